/* Lower priority for background threads: see threadprio.h. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "dumpview/threadprio.h"

static atomic_int background_delta;

void dv_background_threads_set(int delta)
{
	atomic_store(&background_delta, delta);
}

void dv_thread_background(void)
{
	int delta = atomic_load(&background_delta);

	if (delta <= 0)
		return;
#if defined(__linux__) && defined(SYS_gettid)
	/* On Linux a nice value belongs to a thread (its tid): the UI thread
	 * keeps its own. The aim is the main thread's value plus delta, not
	 * this thread's plus delta: a thread started by a background thread
	 * inherits its value already. Raising needs no privilege; a failure
	 * is harmless. */
	id_t tid = (id_t)syscall(SYS_gettid);
	errno = 0;
	int main_nice = getpriority(PRIO_PROCESS, (id_t)getpid());
	if (main_nice == -1 && errno)
		return;
	int now = getpriority(PRIO_PROCESS, tid);
	if (now == -1 && errno)
		return;
	int want = main_nice + delta > 19 ? 19 : main_nice + delta;
	if (now < want)
		(void)setpriority(PRIO_PROCESS, tid, want);
#endif
}

int dv_usable_cpus(void)
{
#if defined(HAVE_SCHED_GETAFFINITY) && defined(CPU_COUNT)
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
#endif
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}
