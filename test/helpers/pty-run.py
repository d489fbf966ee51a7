"""Runs a command on a pseudo-terminal, answers prompts, and copies everything it printed to stdout.

usage: pty-run.py [--answer TEXT]... [--signal-at-prompt NAME] -- command args...
Each --answer is typed (followed by Enter) when the output so far ends with a prompt mark ('] ' or ': ').
--signal-at-prompt sends the command that signal (TERM, INT) at the first prompt left unanswered, as a
service manager or `timeout` would, not as a key typed at the terminal.
Exits with the command's exit code. Both stdout and stderr of the command go to the same terminal.
"""
import fcntl, os, pty, re, select, signal, struct, sys, termios, time

ANSI = re.compile(rb'\x1b\[[0-9;?]*[A-Za-z]')

def main():
    args = sys.argv[1:]
    answers = []
    signal_name = None
    while args and args[0] in ('--answer', '--signal-at-prompt'):
        if args[0] == '--answer':
            answers.append(args[1])
        else:
            signal_name = args[1]
        args = args[2:]
    if args and args[0] == '--':
        args = args[1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.pop('CI', None)
        os.execvp(args[0], args)
    # A real terminal's size: with 0 columns, progress output cannot be laid out.
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
    out = b''
    sent_at = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            sys.stdout.buffer.write(chunk); sys.stdout.buffer.flush()
            # readline follows its prompt with cursor movements: look at the text without them.
            text = ANSI.sub(b'', out[sent_at:])
            at_prompt = text.endswith(b'] ') or text.endswith(b': ')
            if answers and at_prompt:
                os.write(fd, answers.pop(0).encode() + b'\r')
                sent_at = len(out)
            elif signal_name is not None and at_prompt:
                os.kill(pid, getattr(signal, 'SIG' + signal_name))
                signal_name = None
                sent_at = len(out)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status >> 8)

main()
