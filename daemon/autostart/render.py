"""Pure rendering of autostart files from the string.Template files in `templates/`.

Every format has its own quoting rules (systemd's, the Desktop Entry spec's, XML's, Windows' command lines);
they live here, next to each other, so each can be tested without touching a disk or an OS service.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from importlib import resources
from string import Template
from xml.sax.saxutils import escape

from ferrysync.daemon.autostart.base import AutostartError
from ferrysync.daemon.autostart.launch import Launch

_DESKTOP_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_SYSTEMD_SPECIAL = re.compile(r"[\s\"'\\;$%]")


@cache
def template(name: str) -> Template:
    """A template shipped as package data (works from a wheel, an editable install and a bundle)."""
    text = resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    return Template(text)


def _no_control_chars(value: str) -> str:
    if any(ord(c) < 0x20 for c in value):
        raise AutostartError(f"an autostart entry cannot hold control characters: {value!r}")
    return value


def systemd_quote(arg: str, *, expand_dollar: bool = True) -> str:
    """One word of a systemd command line: specifiers (%) are doubled, `$` is doubled where systemd expands
    variables (ExecStart=, not Environment=), and words with blanks or quotes are double-quoted C-style."""
    _no_control_chars(arg)
    word = arg.replace("%", "%%")
    if expand_dollar:
        word = word.replace("$", "$$")
    if arg == "" or _SYSTEMD_SPECIAL.search(arg):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def desktop_exec(argv: tuple[str, ...] | list[str]) -> str:
    """An Exec= value: reserved characters force double quotes (with \\, ", `, $ escaped), % becomes %%, and
    the result is escaped once more as a Desktop Entry string value (so each backslash is doubled again)."""
    words = []
    for arg in argv:
        _no_control_chars(arg)
        word = arg
        if arg == "" or any(c in _DESKTOP_RESERVED for c in arg):
            word = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
        words.append(word.replace("%", "%%"))
    return " ".join(words).replace("\\", "\\\\")


def desktop_argv(launch: Launch) -> list[str]:
    """XDG entries cannot set variables, so carried ones go through env(1)."""
    if not launch.environment:
        return list(launch.argv)
    return ["env", *(f"{k}={v}" for k, v in sorted(launch.environment.items())), *launch.argv]


def render_systemd_unit(launch: Launch) -> str:
    env_lines = "".join(
        f"Environment={systemd_quote(f'{k}={v}', expand_dollar=False)}\n" for k, v in sorted(launch.environment.items())
    )
    if not launch.argv[0].startswith("/"):
        raise AutostartError(f"systemd needs an absolute path to ferryd, got {launch.argv[0]!r}")
    return template("ferryd.service").substitute(
        exec_start=" ".join(systemd_quote(a) for a in launch.argv),
        environment=env_lines,
    )


def render_desktop_entry(name: str, launch: Launch) -> str:
    """`name` is one of the .desktop templates: ferryd.desktop, ferry-tray.desktop, ferry.desktop."""
    return template(name).substitute(exec=desktop_exec(desktop_argv(launch)))


def _xml(value: str) -> str:
    return escape(_no_control_chars(value), {'"': "&quot;"})


def render_launch_agent(label: str, launch: Launch, *, gui: bool, log_file: str) -> str:
    """A LaunchAgent: started at log-in, restarted after a crash but not after a clean quit, never forking."""
    indent = "\t\t"
    args = "\n".join(f"{indent}<string>{_xml(a)}</string>" for a in launch.argv)
    extra: list[str] = []
    if launch.environment:
        pairs = "".join(
            f"{indent}<key>{_xml(k)}</key>\n{indent}<string>{_xml(v)}</string>\n"
            for k, v in sorted(launch.environment.items())
        )
        extra.append(f"\t<key>EnvironmentVariables</key>\n\t<dict>\n{pairs}\t</dict>")
    if launch.bundle_id:
        extra.append(
            f"\t<key>AssociatedBundleIdentifiers</key>\n\t<array>\n{indent}<string>{_xml(launch.bundle_id)}</string>"
            "\n\t</array>"
        )
    if gui:
        extra.append("\t<key>LimitLoadToSessionType</key>\n\t<string>Aqua</string>")
    return template("launch-agent.plist").substitute(
        label=_xml(label),
        program_arguments=args,
        process_type="Interactive" if gui else "Standard",
        log_file=_xml(log_file),
        extra_keys="\n".join(extra),
    )


def windows_command_line(argv: tuple[str, ...] | list[str]) -> str:
    """The quoting CreateProcess and the MS C runtime undo (what the Run key and schtasks expect)."""
    return subprocess.list2cmdline([_no_control_chars(a) for a in argv])


def render_task_xml(launch: Launch, *, task_name: str, user_id: str) -> str:
    """A Task Scheduler task starting ferryd at the user's log-on, free of the battery and 72-hour limits."""
    rest = launch.argv[1:]
    return template("ferryd-task.xml").substitute(
        task_name=_xml(task_name),
        user_id=_xml(user_id),
        command=_xml(launch.argv[0]),
        arguments=f"\n      <Arguments>{_xml(windows_command_line(rest))}</Arguments>" if rest else "",
    )
