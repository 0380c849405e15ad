# loom's hook and statusLine command in a stage session: the fast path, in POSIX sh.
#
# Claude Code runs this on every tool call (PreToolUse, PostToolUse) and every statusLine redraw of
# every agent, so it must cost a shell start, not a Python start.  Usage, as the per-session
# settings write it (core/agents/base.py, `session_settings`):
#
#   sh hook.sh EVENT WORK_DIR SESSION_ID STAGE_ID WORKTREE PYTHON BUDGET
#
# It reads Claude Code's JSON payload from stdin and, for the routine calls, appends it as one line
# to `WORK_DIR/hooks/SESSION_ID.jsonl` with loom's event name put first
# and the seconds since boot first (`{"event":"PostToolUse","up":5021.37,...payload...}`;
# core/hook_log.py reads both this shape and the records the Python hook writes).  It answers from files the scheduler maintains in `WORK_DIR/flags/`:
#
#   SESSION_ID.handoff  the scheduler asked this session to hand off: PostToolUse and Stop go to
#                       Python (`loom hook`), which sends the request (exit 2) and records it;
#   SESSION_ID.status   the statusLine text, written by the scheduler when the gauge changes;
#   SESSION_ID.near     the gauge is near the stage's budget: each statusLine wakes the scheduler
#                       (touches `WORK_DIR/pulse/SESSION_ID`), so a crossing is seen at once.
#                       The statusLine's own `used_percentage` within 15 points of BUDGET does
#                       the same, for a reading that jumps past the budget in one step.
#
# Python (`loom hook EVENT`) runs only where there is real work: a flagged handoff, the first
# PreCompact (the backstop), SessionStart (the reminder after a compaction), and the PreToolUse
# guard for the tools that can leave the stage's lane: Bash commands that mention git or loom,
# and Edit/Write/NotebookEdit/MultiEdit unless the file is plainly inside the worktree.  Read, Glob,
# Grep and the rest never leave this script.  Any failure here exits 0: a hook must never break
# the agent's work.

event=$1 work=$2 session=$3 stage=$4 worktree=$5 python=$6 budget=${7:-65}
case $budget in '' | *[!0-9]*) budget=65 ;; esac
log="$work/hooks/$session.jsonl"
flags="$work/flags/$session"

python_hook() {
    # The slow path: the payload goes to `loom hook EVENT`, which logs it itself and answers.
    printf '%s' "$payload" | LOOM_WORK_DIR=$work LOOM_SESSION_ID=$session LOOM_STAGE_ID=$stage \
        LOOM_WORKTREE=$worktree "$python" -m loom_tui hook "$event"
    exit $?
}

guard() {
    # The PreToolUse guard (core/guard.py), without the CLI: it logs the call and answers.
    printf '%s' "$payload" | "$python" -m loom_tui.core.guard_hook "$work" "$session" "$stage" "$worktree"
    exit $?
}

case $event in
    pre-compact | session-start)
        exec env LOOM_WORK_DIR="$work" LOOM_SESSION_ID="$session" LOOM_STAGE_ID="$stage" \
            LOOM_WORKTREE="$worktree" "$python" -m loom_tui hook "$event"
        ;;
esac

payload=$(cat) || exit 0

case $event in
    post-tool-use | stop)
        [ -e "$flags.handoff" ] && python_hook
        ;;
    pre-tool-use)
        case $payload in
            *'"tool_name":"Bash"'* | *'"tool_name": "Bash"'*)
                case $payload in
                    *git* | *loom*)
                        # One plain command (no `&`, `;`, `|`, `$(`, backquote or new line
                        # anywhere in the payload) that cannot leave the lane stays here: this
                        # stage's own `loom stage complete` / `loom handoff write`, and git's
                        # read-only status, diff, log and show.  Anything else: the guard.
                        case $payload in
                            *'&'* | *';'* | *'|'* | *'$('* | *'`'* | *'\n'*) guard ;;
                            *"\"command\":\"loom stage complete $stage\""* | \
                                *"\"command\": \"loom stage complete $stage\""* | \
                                *"\"command\":\"loom handoff write $stage "* | \
                                *"\"command\": \"loom handoff write $stage "*) ;;
                            *'"command":"git status'* | *'"command": "git status'* | \
                                *'"command":"git diff'* | *'"command": "git diff'* | \
                                *'"command":"git log'* | *'"command": "git log'* | \
                                *'"command":"git show'* | *'"command": "git show'*) ;;
                            *) guard ;;
                        esac
                        ;;
                esac
                ;;
            *'"tool_name":"Edit"'* | *'"tool_name": "Edit"'* | \
                *'"tool_name":"Write"'* | *'"tool_name": "Write"'* | \
                *'"tool_name":"MultiEdit"'* | *'"tool_name": "MultiEdit"'*)
                # plainly inside the worktree: an absolute path under it, with no `..` anywhere
                case $payload in
                    *'/..'*) guard ;;
                    *"\"file_path\":\"$worktree/"* | *"\"file_path\": \"$worktree/"*) ;;
                    *) guard ;;
                esac
                ;;
            *'"tool_name":"NotebookEdit"'* | *'"tool_name": "NotebookEdit"'*)
                guard
                ;;
        esac
        ;;
esac

case $event in
    pre-tool-use) name=PreToolUse ;;
    post-tool-use)
        name=PostToolUse
        # the tool's output can be megabytes (a Read): the log keeps what the scheduler reads
        case $payload in
            *',"tool_response":'*) payload="${payload%%,\"tool_response\":*}}" ;;
            *', "tool_response": '*) payload="${payload%%, \"tool_response\": *}}" ;;
        esac
        ;;
    stop) name=Stop ;;
    notification) name=Notification ;;
    user-prompt-submit) name=UserPromptSubmit ;;
    session-end) name=SessionEnd ;;
    *) name=$event ;;
esac
# When: seconds since boot, read by a builtin (no `date` process); hook_log turns it into a time.
up=
[ -r /proc/uptime ] && read -r up _ </proc/uptime
stamp="\"event\":\"$name\"${up:+,\"up\":$up}"
case $payload in
    '{}' | '') line="{$stamp}" ;;
    '{'*) line="{$stamp,${payload#\{}" ;;
    *) line='' ;;
esac
if [ -n "$line" ]; then
    printf '%s\n' "$line" >>"$log" 2>/dev/null
fi

case $event in
    statusline)
        # Near the budget, wake the scheduler: Claude Code's own figure (whole points are
        # enough for a wake-up; loom computes the exact one), or the scheduler's flag.
        wake=
        [ -e "$flags.near" ] && wake=1
        case $payload in
            *'"used_percentage":'*) pct=${payload##*\"used_percentage\":} ;;
            *) pct= ;;
        esac
        pct=${pct# }
        pct=${pct%%[,\}]*}
        pct=${pct%%.*}
        case $pct in
            '' | *[!0-9]*) ;;
            *) [ "$pct" -ge $((budget - 15)) ] && wake=1 ;;
        esac
        [ -n "$wake" ] && : >"$work/pulse/$session" 2>/dev/null
        if [ -s "$flags.status" ] && IFS= read -r text <"$flags.status"; then
            printf '%s\n' "$text"
        else
            printf 'loom %s\n' "$stage"
        fi
        ;;
    stop | notification | user-prompt-submit | session-end)
        : >"$work/pulse/$session" 2>/dev/null
        ;;
esac
exit 0
