# bash completion for dumpview(1)                         -*- shell-script -*-
#
# Installed by `make install` as <completionsdir>/dumpview, where
# bash-completion loads it on the first `dumpview <TAB>`; or source it from
# ~/.bashrc. It needs only bash (compgen, complete), not bash-completion.
#
# The option lists follow the getopt tables in src/cmd_*.c and
# include/dumpview/grouping_args.h: keep them in step (tests/test_completion.sh
# checks them against each command's --help).

# Options shared by compare and the explorer: how files form logical
# tensors, and how target names are mapped before pairing.
_dumpview_grouping_opts='--preset --grouping-skip-keys --override-dims
	--override-baseline-dims --override-target-dims --token-aligner
	--name-map --name-map-file'

_dumpview_explorer_opts="--diff-threshold --rule --rules --allow-failed-pattern
	--allow-skipped-pattern --filter --layer-regex --ascii --no-color --no-scan
	--follow-symlinks --verify-crc --report --print-keys --help --version $_dumpview_grouping_opts"

_dumpview_compare_opts="--phase --filter --diff-threshold --rule --rules
	--allow-failed-pattern --allow-skipped-pattern --layer-regex --format
	--output --quiet --shard --follow-symlinks --verify-crc --help $_dumpview_grouping_opts"

_dumpview_info_opts='--format --layer-regex --follow-symlinks --name-map
	--name-map-file --help'

_dumpview_show_opts='--values --raw --force --verify-crc --help'

_dumpview_merge_opts='--output --help'

_dumpview_commands='compare info merge show'

# Options that take a value (the next word, or after '=').
_dumpview_takes_value()
{
	case $1 in
	--preset | --grouping-skip-keys | --override-dims | --override-baseline-dims | \
		--override-target-dims | --token-aligner | --name-map | --name-map-file | \
		--diff-threshold | --rule | --rules | --allow-failed-pattern | \
		--allow-skipped-pattern | --filter | --layer-regex | --phase | --format | \
		--output | --values | --raw | --shard | --report)
		return 0 ;;
	esac
	return 1
}

# Paths: mark the reply as file names (quoting, a '/' after folders) when
# completion is live; compopt fails harmlessly when called outside it.
_dumpview_filenames()
{
	compopt -o filenames 2>/dev/null
}

_dumpview_dirs()  # $1: the word; folders, then tags under $DUMPER_BASE_DIR
{
	local IFS=$'\n' base=${DUMPER_BASE_DIR:-/tmp/dumper} t
	_dumpview_filenames
	COMPREPLY+=($(compgen -d -- "$1"))
	if [[ $1 != */* && -d $base ]]; then
		for t in $(cd -- "$base" 2>/dev/null && compgen -d -- "$1"); do
			[[ -d $t ]] || COMPREPLY+=("$t")  # a tag, not also a folder here
		done
	fi
}

_dumpview_files()  # $1: the word; $2: a glob the files must match (or none)
{
	local IFS=$'\n'
	_dumpview_filenames
	if [[ -n ${2-} ]]; then
		COMPREPLY+=($(compgen -f -X "!$2" -- "$1") $(compgen -d -- "$1"))
	else
		COMPREPLY+=($(compgen -f -- "$1"))
	fi
}

# The values of option $1 (in command $2) for the word $3.
_dumpview_values()
{
	local opt=$1 cmd=$2 cur=$3
	case $opt in
	--preset)
		COMPREPLY=($(compgen -W 'sglang_dev sglang_megatron raw' -- "$cur")) ;;
	--token-aligner)
		COMPREPLY=($(compgen -W 'none concat_steps smart' -- "$cur")) ;;
	--format)
		if [[ $cmd == info ]]; then
			COMPREPLY=($(compgen -W 'text jsonl' -- "$cur"))
		else
			COMPREPLY=($(compgen -W 'text jsonl csv sglang-jsonl' -- "$cur"))
		fi ;;
	--rules | --output | --name-map-file)
		_dumpview_files "$cur" ;;
	--report)
		_dumpview_files "$cur" '*.jsonl' ;;
	*)
		;;  # a regex, a number, a path inside a .pt: nothing to offer
	esac
}

_dumpview()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmd='' i w opts
	COMPREPLY=()
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The command: the first word after dumpview, when it names one.
	case ${COMP_WORDS[1]-} in
	compare | info | merge | show)
		((COMP_CWORD > 1)) && cmd=${COMP_WORDS[1]} ;;
	esac

	# Was a '--' seen before the word? Then everything after is an operand.
	local ddash=0 start=1
	[[ -n $cmd ]] && start=2
	for ((i = start; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -- ]]; then
			ddash=1
			break
		fi
		_dumpview_takes_value "$w" && ((i++))
	done

	if ((!ddash)); then
		# --opt=value as one word (when '=' is not in COMP_WORDBREAKS): the
		# replies replace the whole word, so they carry the '--opt=' too.
		if [[ $cur == --*=* ]]; then
			local opt=${cur%%=*}
			_dumpview_values "$opt" "$cmd" "${cur#*=}"
			((${#COMPREPLY[@]})) && COMPREPLY=("${COMPREPLY[@]/#/$opt=}")
			return 0
		fi
		# --opt value (bash splits '--opt=' into '--opt' '=' 'value' when = is
		# in COMP_WORDBREAKS)
		if [[ $prev == = ]] && ((COMP_CWORD > 1)) &&
			_dumpview_takes_value "${COMP_WORDS[COMP_CWORD - 2]}"; then
			_dumpview_values "${COMP_WORDS[COMP_CWORD - 2]}" "$cmd" "$cur"
			return 0
		fi
		if [[ $cur == = ]] && _dumpview_takes_value "$prev"; then
			_dumpview_values "$prev" "$cmd" ""
			return 0
		fi
		if _dumpview_takes_value "$prev" && ((COMP_CWORD - 1 >= start)); then
			_dumpview_values "$prev" "$cmd" "$cur"
			return 0
		fi
	fi

	case $cmd in
	compare) opts=$_dumpview_compare_opts ;;
	info) opts=$_dumpview_info_opts ;;
	show) opts=$_dumpview_show_opts ;;
	merge) opts=$_dumpview_merge_opts ;;
	*) opts=$_dumpview_explorer_opts ;;
	esac

	if ((!ddash)) && [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
	fi

	case $cmd in
	show)
		_dumpview_files "$cur" '*.pt' ;;
	merge)
		_dumpview_files "$cur" '*.jsonl' ;;
	compare | info)
		_dumpview_dirs "$cur" ;;
	*)
		if ((COMP_CWORD == 1)); then
			COMPREPLY=($(compgen -W "$_dumpview_commands" -- "$cur"))
		fi
		_dumpview_dirs "$cur" ;;
	esac
	return 0
}

complete -F _dumpview dumpview
