#ifndef DUMPVIEW_THREADPRIO_H
#define DUMPVIEW_THREADPRIO_H

/* Background threads (scan workers, listing, pairing, metrics helpers) can
 * run below the priority of the thread that answers the user, so that the
 * explorer's keys are answered at once while every core is busy. Off unless
 * a program asks: `compare` keeps its threads as they are. */

/* From now on, threads that call dv_thread_background() take the main
 * thread's nice value plus delta (Linux: per thread; never lowered); 0 turns
 * it off. */
void dv_background_threads_set(int delta);
/* Called first by each background thread; does nothing when off or where
 * a thread's priority cannot be set on its own. */
void dv_thread_background(void);

/* The CPUs this process may run on: the affinity mask where there is one
 * (taskset, a Slurm or container cpuset: 2 of a node's 128 cores), else all
 * online; at least 1. Thread pools size themselves by it, not by the CPUs
 * online, or a pinned explorer starts a worker per core of the node. */
int dv_usable_cpus(void);

#endif
