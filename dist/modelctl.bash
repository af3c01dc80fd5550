# bash completion for modelctl: verbs, models, versions (MODEL@VERSION too)
# and aliases, asked of the registry the command line names (-s, -m, --db).
# shellcheck shell=bash

# The registry's answers, one name per line: models, or MODEL's versions.
_modelctl_names() {
	local IFS=$'\n'
	"${_modelctl_cmd[@]}" list "$@" 2>/dev/null | awk 'NR > 1 { print $1 }'
}

# MODEL's aliases (the ALIASES column of `list`: "production=1.2.0 ...").
_modelctl_aliases() {
	"${_modelctl_cmd[@]}" list 2>/dev/null |
		awk -v m="$1" 'NR > 1 && $1 == m { for (i = 3; i <= NF; i++) if ($i ~ /=/) { split($i, a, "="); print a[1] } }'
}

_modelctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local i verb="" vi=0
	local IFS=$'\n'
	_modelctl_cmd=("${COMP_WORDS[0]}")
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | -m | --db | --blobs)
			_modelctl_cmd+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}")
			((i++))
			;;
		-*) ;;
		*)
			verb=${COMP_WORDS[i]}
			vi=$i
			break
			;;
		esac
	done
	if [[ -z $verb ]]; then
		case $prev in
		-s | -m | --blobs)
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
			return
			;;
		--db) return ;;
		esac
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-s -m --db --blobs --json --help --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$("${COMP_WORDS[0]}" --help 2>/dev/null |
				sed -n '/^verbs:/,/^$/s/^  \([a-z][a-z]*\).*/\1/p' | sort -u)" -- "$cur")
		fi
		return
	fi
	local n=$((COMP_CWORD - vi)) model=${COMP_WORDS[vi + 1]}
	case $verb in
	show | lineage)
		if ((n == 1)); then
			if [[ $cur == *@* ]]; then
				mapfile -t COMPREPLY < <(compgen -P "${cur%%@*}@" -W "$(_modelctl_names "${cur%%@*}")" -- "${cur#*@}")
			else
				mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_names)" -- "$cur")
			fi
		elif [[ $verb == lineage && $prev == --format ]]; then
			mapfile -t COMPREPLY < <(compgen -W "json dot mermaid" -- "$cur")
		elif [[ $verb == lineage ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--format --descendants" -- "$cur")
		fi
		;;
	list | history)
		if ((n == 1)); then
			mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_names)" -- "$cur")
		elif [[ $verb == history && n -eq 2 ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_aliases "$model")" -- "$cur")
		fi
		;;
	seal | diff | approve | deprecate | archive | activate | tag | promote)
		if ((n == 1)); then
			mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_names)" -- "$cur")
		elif ((n == 2)) || [[ $verb == diff && n -eq 3 ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_names "$model")" -- "$cur")
		elif [[ $verb == approve || $verb == promote ]] && ((n == 3)); then
			mapfile -t COMPREPLY < <(compgen -W "$({ _modelctl_aliases "$model"; printf 'production\nstaging\n'; } | sort -u)" -- "$cur")
		fi
		;;
	rollback)
		if ((n == 1)); then
			mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_names)" -- "$cur")
		elif ((n == 2)); then
			mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_aliases "$model")" -- "$cur")
		elif [[ $prev == --to ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$(_modelctl_names "$model")" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "--to" -- "$cur")
		fi
		;;
	register)
		if [[ $prev == --metadata ]] || ((n == 1)); then
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		elif [[ $prev == --promote ]]; then
			mapfile -t COMPREPLY < <(compgen -W "production staging" -- "$cur")
		elif ((n == 2)); then
			mapfile -t COMPREPLY < <(compgen -S @ -W "$(_modelctl_names)" -- "$cur")
			compopt -o nospace 2>/dev/null
		else
			mapfile -t COMPREPLY < <(compgen -W "--metadata --seal --promote" -- "$cur")
		fi
		;;
	export)
		if ((n == 1)); then
			mapfile -t COMPREPLY < <(compgen -S @ -W "$(_modelctl_names)" -- "$cur")
			compopt -o nospace 2>/dev/null
		else
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		fi
		;;
	import)
		if ((n == 1)); then
			mapfile -t COMPREPLY < <(compgen -W "dir mlflow" -- "$cur")
		elif ((n == 2)); then
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		elif [[ ${COMP_WORDS[COMP_CWORD - n + 1]} == mlflow ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--model --semver-tag --artifacts --dry-run" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "--promote" -- "$cur")
		fi
		;;
	audit)
		((n == 1)) && mapfile -t COMPREPLY < <(compgen -W "verify head" -- "$cur")
		;;
	fsck) mapfile -t COMPREPLY < <(compgen -W "--quick" -- "$cur") ;;
	gc) mapfile -t COMPREPLY < <(compgen -W "--dry-run" -- "$cur") ;;
	backup | restore) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
	esac
	return 0
}
complete -F _modelctl modelctl
