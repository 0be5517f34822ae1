"""Every server parameter the reference names for switchover, in one table.

Names are spelt as the reference spells them; defaults, ranges and descriptions are the
reference's own (Windows paths translated to POSIX). Where the reference gives no range,
switchover chooses one so that a typo cannot set a 10-hour timeout, and the description
says so. The table follows the reference's sections, in its order: the small ones are
here; the Optional parameters (`params_optional`), switchover's own
(`params_extension`) and the retired ones (`params_ignored`) are modules of their own.
"""
from __future__ import annotations

from switchover.params_extension import EXTENSION_SPECS
from switchover.params_ignored import UDP_MONITOR_SPECS
from switchover.params_optional import OPTIONAL_SPECS
from switchover.params_spec import ParamSpec, catalogued

REQUIRED = "Required Switchover Server parameters"
APPENDIX_C = "Appendix C"
DEFAULT_DIRS = "Default mirrored directories"

_SPECS: list[ParamSpec] = [
    # --- Required Switchover Server parameters ---------------------------------------
    catalogued(
        "SwitchoverServer A", "name", None,
        "This parameter specifies the name of the SwitchoverServer that is designated as the "
        "initial active server. This server comes up as active first and remains so until the "
        "first switchover event. (The reference asks for the computer name, not an IP address "
        "or FQDN.)",
        section=REQUIRED,
    ),
    catalogued(
        "SwitchoverServer B", "name", None,
        "This parameter specifies the name of the SwitchoverServer that is designated as the "
        "initial backup server. This server comes up as backup first and remains so until the "
        "first switchover event. Give it a name different from the active server's name.",
        section=REQUIRED,
    ),
    # --- Optional Switchover Server parameters ---------------------------------------
    *OPTIONAL_SPECS,
    # --- Appendix C: Upgrade Higher state --------------------------------------------
    catalogued(
        "Switchover Upgrade Higher DS Exclusions", "dspaths", "",
        "Upgrade Higher state: additional DS path exceptions, in the same format as Custom "
        "Upgrade Synchronization Directories. By default this parameter is empty.",
        section=APPENDIX_C,
    ),
    catalogued(
        "Switchover Upgrade Higher File Exclusions", "dirlist", "",
        "Upgrade Higher state: additional file directory path exceptions, in the same format "
        "as CustomMirrorDir. By default this parameter is empty.",
        section=APPENDIX_C,
    ),
    # --- Default mirrored directories ------------------------------------------------
    catalogued(
        "Handler Path", "path", "/I3/IC/Handlers",
        "The published handler directory, mirrored only once, on startup (subdirectories "
        "are not mirrored).",
        section=DEFAULT_DIRS,
    ),
    catalogued(
        "Resource Path", "path", "/I3/IC/Resources",
        "The resources directory (prompts, white pages files), continuously mirrored.",
        section=DEFAULT_DIRS,
    ),
    catalogued(
        "I3Tables Path", "path", "/I3/IC/Server/I3Tables",
        "The i3tables directory (administrator data tables), continuously mirrored.",
        section=DEFAULT_DIRS,
    ),
    # --- project extensions ----------------------------------------------------------
    *EXTENSION_SPECS,
    # --- retired by the reference: accepted, ignored --------------------------------
    *UDP_MONITOR_SPECS,
]

#: Canonical name -> spec, for every parameter switchover knows.
CATALOGUE: dict[str, ParamSpec] = {spec.name: spec for spec in _SPECS}
assert len(CATALOGUE) == len(_SPECS), "duplicate parameter name in the catalogue"
