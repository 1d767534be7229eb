"""The tray's side effects on the desktop: open a file or folder, pick a folder, start a detached process,
guess whether the panel is dark. Each uses the platform's own tool so the user gets the native experience.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

PICKER_TITLE = "Choose a folder to sync with Ferry"

# A tkinter dialog in a child process: Tk must not share a process with the GTK/Cocoa loop of the tray.
_TK_PICKER = (
    "import sys, tkinter, tkinter.filedialog as fd\n"
    "root = tkinter.Tk(); root.withdraw()\n"
    "path = fd.askdirectory(title=sys.argv[1], mustexist=True)\n"
    "print(path or '')\n"
)

_PS_PICKER = (
    "Add-Type -AssemblyName System.Windows.Forms;"
    "$d = New-Object System.Windows.Forms.FolderBrowserDialog;"
    f"$d.Description = '{PICKER_TITLE}';"
    "if ($d.ShowDialog() -eq 'OK') { [Console]::Out.Write($d.SelectedPath) }"
)


class PickerUnavailable(OSError):
    """No folder picker could be shown (no zenity/kdialog and no tkinter)."""


def _detached_kwargs() -> dict[str, object]:
    kwargs: dict[str, object] = {
        "stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
        "close_fds": True,
    }
    if sys.platform == "win32":
        kwargs["creationflags"] = (getattr(subprocess, "DETACHED_PROCESS", 0)
                                   | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))
    else:
        kwargs["start_new_session"] = True  # survives the tray quitting, gets no terminal signals
    return kwargs


def spawn(argv: Sequence[str]) -> None:
    """Start a process that outlives the tray; raises OSError when the program cannot be started."""
    if not argv:
        raise OSError("no command to start")
    proc = subprocess.Popen(list(argv), **_detached_kwargs())  # type: ignore[call-overload]
    # Reap it when it exits so it leaves no zombie while the tray runs.
    threading.Thread(target=proc.wait, name="ferry-tray-reaper", daemon=True).start()


def open_path(path: str) -> None:
    """Open a file with its default application, or a folder in the file manager."""
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such file or folder", path)
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
    elif sys.platform == "darwin":
        spawn(["open", path])
    else:
        opener = shutil.which("xdg-open") or shutil.which("gio")
        if opener is None:
            raise OSError("neither xdg-open nor gio is installed to open files")
        spawn([opener, path] if opener.endswith("xdg-open") else [opener, "open", path])


def open_url(url: str) -> None:
    """Open a web address in the user's browser (`webbrowser` honours $BROWSER, as tests use)."""
    import webbrowser

    if not webbrowser.open(url):
        raise OSError("no web browser found to open the settings window (try `ferry open --print`)")


def picker_command(platform: str = sys.platform,
                   which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The argv of the native folder picker on this desktop (prints the chosen path, nothing on cancel)."""
    find = which
    if platform == "darwin":
        return ["osascript", "-e", f'POSIX path of (choose folder with prompt "{PICKER_TITLE}")']
    if platform == "win32":
        return ["powershell", "-NoProfile", "-STA", "-Command", _PS_PICKER]
    desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").lower()
    order = ("kdialog", "zenity") if "kde" in desktop else ("zenity", "kdialog")
    for tool in order:
        found = find(tool)
        if found and tool == "zenity":
            return [str(found), "--file-selection", "--directory", f"--title={PICKER_TITLE}"]
        if found and tool == "kdialog":
            return [str(found), "--getexistingdirectory", str(Path.home()), "--title", PICKER_TITLE]
    return [sys.executable, "-c", _TK_PICKER, PICKER_TITLE]


def pick_folder() -> str | None:
    """Show the native folder picker: the chosen folder, or None on cancel. Blocks: call it off the UI."""
    argv = picker_command()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise PickerUnavailable(f"cannot show a folder picker: {exc}") from None
    if done.returncode != 0:
        if "tkinter" in done.stderr or "TclError" in done.stderr:
            raise PickerUnavailable("no folder picker: install zenity or kdialog (or python3-tk)")
        return None  # zenity/kdialog/osascript exit non-zero on cancel
    chosen = done.stdout.strip().rstrip("\n")
    if not chosen:
        return None
    return chosen.rstrip("/") if len(chosen) > 1 and sys.platform != "win32" else chosen


def prefers_dark_panel(platform: str = sys.platform) -> bool:
    """Best guess at the panel's colour, for the icon variant. GNOME's top bar is dark whatever the theme."""
    try:
        if platform == "darwin":
            out = subprocess.run(["defaults", "read", "-g", "AppleInterfaceStyle"], capture_output=True,
                                 text=True, timeout=2)
            return out.stdout.strip().lower() == "dark"
        if platform == "win32":
            import winreg  # type: ignore[import-not-found,unused-ignore]

            key = winreg.OpenKey(winreg.HKEY_CURRENT_USER,  # type: ignore[attr-defined,unused-ignore]
                                 r"Software\Microsoft\Windows\CurrentVersion\Themes\Personalize")
            value, _ = winreg.QueryValueEx(key, "SystemUsesLightTheme")  # type: ignore[attr-defined,unused-ignore]
            return int(value) == 0
    except (OSError, subprocess.SubprocessError, ValueError):
        return False
    desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").lower()
    if "gnome" in desktop or "unity" in desktop or "pantheon" in desktop:
        return True
    if ":dark" in os.environ.get("GTK_THEME", "").lower():
        return True
    gsettings = shutil.which("gsettings")
    if gsettings:
        try:
            out = subprocess.run([gsettings, "get", "org.gnome.desktop.interface", "color-scheme"],
                                 capture_output=True, text=True, timeout=2)
            return "dark" in out.stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return False
