/** Where a sandbox sees its exec directory (read-only: only the control plane makes files in it). */
export const SANDBOX_EXEC_DIR = '/run/leasehold/exec';
/**
 * The control pipe in that directory: one line per request, `run|kill|done <slot> [fields…]`;
 * the fields of a run are escaped as encodeField does, so that a line holds any bytes but NUL.
 */
export const CONTROL_FIFO = 'control';

/**
 * The sandbox's first process, in bash (`bash -p -c SERVER leasehold-sandbox argv…`): it forks the
 * exec server, then becomes the workload (`exec`), so the workload keeps its place (bwrap's child,
 * its process group, its exit code) and its exact environment. The server runs inside the sandbox
 * with nothing the workload lacks — same namespaces, seccomp filter, capabilities, rlimits, cgroup,
 * user, /tmp — and so does every command it starts: that is the point of running it there.
 *
 * Per request it runs the command in a process group of its own (job control), with the request's
 * env and cwd, stdin/stdout/stderr on the pipes the control plane made for it, and reports on the
 * request's status pipe: `ready` (streams open), `nostart <why>`, then `exit <code>`.
 *
 * Why each odd line is there:
 * - `-p`: a spec's BASH_ENV, SHELLOPTS or exported functions (BASH_FUNC_exec%%) would otherwise
 *   steer this script; with it they pass through to the workload untouched (SHELLOPTS excepted,
 *   which bash rewrites to its own options).
 * - SHLVL as an array: bash adds SHLVL=0 to the environment of whatever it execs, arrays are never
 *   exported, and so the workload's environment stays exactly what bwrap set.
 * - `set -m` in the server: each exec is a job, a process group of its own, so that a kill ends
 *   all it started; bash gives each job the signal dispositions it started with (a test checks
 *   that an exec ignores no signal the workload does not).
 * - the request's env is exported last, from positional parameters, after every variable of this
 *   script is unset: an env name may be one of them (`argv`, `dir`), and must neither change what
 *   runs nor be lost. Each name is unset before it is exported: a variable bash keeps itself
 *   (RANDOM, SECONDS, LINENO, GROUPS) loses its special meaning that way, and is passed as given.
 *   Inside `( … )` bash adds nothing (SHLVL, OLDPWD, `_`) to what it execs.
 *   A relative cwd gets `./` so that CDPATH plays no part.
 */
export const EXEC_SERVER_SCRIPT = `
unset OLDPWD SHLVL
declare -a SHLVL
dir=${SANDBOX_EXEC_DIR}
run() {
  local slot=$1 field value
  shift
  exec {control}<&- 9>"$dir/$slot.status" || exit 1
  local -a request=()
  for field; do printf -v value %b "$field"; request+=("\${value#:}"); done
  local stdin=\${request[0]} cwd=\${request[1]} count=\${request[2]}
  local -a env=("\${request[@]:3:count}") argv=("\${request[@]:3+count}")
  (
    [[ $cwd == /* ]] || cwd=./$cwd
    cd -- "$cwd" 2>/dev/null || { echo "nostart no such working directory" >&9; exit 126; }
    if [[ $stdin == 1 ]]; then exec <"$dir/$slot.in"; else exec </dev/null; fi
    exec >"$dir/$slot.out" 2>"$dir/$slot.err"
    set -- "\${env[@]}" -- "\${argv[@]}"
    unset -v dir slot field value request stdin cwd count env argv control verb line jobs SHLVL
    while [[ $1 != -- ]]; do unset -v "\${1%%=*}" 2>/dev/null; export -- "$1" 2>/dev/null || { echo "nostart cannot set \${1%%=*}" >&9; exit 126; }; shift; done
    shift
    [[ $1 == */* ]] || type -P -- "$1" >/dev/null || { echo "nostart command not found" >&9; exit 127; }
    echo ready >&9
    exec 9>&-
    exec -- "$@"
  )
  echo "exit $?" >&9
}
serve() {
  set -m
  local -A jobs=()
  exec {control}<"$dir/${CONTROL_FIFO}" || exit 1
  local -a line
  while read -r -a line <&"$control"; do
    verb=\${line[0]-} slot=\${line[1]-}
    [[ $slot =~ ^[0-9a-f]{32}$ ]] || continue
    case $verb in
      run) run "$slot" "\${line[@]:2}" & jobs[$slot]=$! ;;
      kill) [[ -n \${jobs[$slot]-} ]] && kill -KILL -- "-\${jobs[$slot]}" 2>/dev/null; unset "jobs[$slot]" ;;
      done) unset "jobs[$slot]" ;;
    esac
  done
}
serve </dev/null >/dev/null 2>&1 &
exec -- "$@"
`;
