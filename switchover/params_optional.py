"""The reference's "Optional Switchover Server parameters", in the reference's order.

The largest of the reference's parameter tables, kept as one because its order is the
one operators know from the reference and the one `switchover params list` and
docs/parameters.md show. Descriptions are the reference's own (Windows paths
translated to POSIX); where it gives no range, switchover chooses one and says so.
"""
from __future__ import annotations

from functools import partial

from switchover.params_spec import CHOSEN, ParamSpec, catalogued

OPTIONAL = "Optional Switchover Server parameters"
_optional = partial(catalogued, section=OPTIONAL)

#: The eleven default CustomMirrorDir entries, translated from `+D:\I3\IC\...`.
DEFAULT_CUSTOM_MIRROR_DIR = ";".join(
    "+/I3/IC/" + d
    for d in (
        "Resources", "HostTools", "Server/LRA", "ClientSettings", "Flows", "TFTPRoot",
        "Provision", "Certificates/LinesAuthority", "Certificates/Email", "Server/I3RxDocs",
        "Server/Reports",
    )
)

#: Appendix C: the DS paths replicated in Upgrade Lower state by default.
DEFAULT_UPGRADE_SYNC_DIRS = ";".join(
    (
        "${CONFIG}/Users", "${CONFIG}/Passwords", "${CONFIG}/Workgroups", "${CONFIG}/Roles",
        "${CONFIG}/Default User", "${SERVER}/Workstations", "${CONFIG}/ProcessAutomation",
    )
)

#: The reference's servers tell their CIC clients the pair's names to cache; switchover's
#: clients (the interaction client) are given both servers' endpoints by their application
#: and remember the last one used themselves, so no server ever hands out a name.
_FQDN_NO_EFFECT = (
    "switchover's servers never tell a client the pair's names: an interaction client is "
    "given both servers' endpoints by its application and remembers the last one used "
    "itself, so there is no name to override"
)
_RESTART_NOTE = (
    " Switchover applies a change without a restart: interaction recovery synchronises "
    "fully when a type is enabled."
)


def _recovery(prefix: str, what: str) -> ParamSpec:
    return _optional(
        f"{prefix} Interaction Recovery Enabled",
        "bool",
        "No",
        f"To enable switchover support for {what} interactions, set this parameter to 1 (any "
        "non-zero integer, or Yes). By default this parameter is set to 0 or Off."
        + _RESTART_NOTE,
        dynamic=True,
    )


#: The section's parameters, in the reference's order.
OPTIONAL_SPECS: tuple[ParamSpec, ...] = (
    _recovery("Callback", "callback"),
    _recovery("Chat", "chat"),
    _optional(
        "CustomMirrorDir", "dirlist", DEFAULT_CUSTOM_MIRROR_DIR,
        "One or more directories on the active server that are mirrored on the backup server, "
        "in addition to the default set of mirrored directories. Any time a file is added, "
        "removed, or modified in one of these directories, the change is mirrored. Separate "
        "directories with ';'; a + in front of a directory mirrors it recursively. The maximum "
        "practical length of all paths in one parameter is approximately 2000 characters.",
        dynamic=True,
    ),
    _optional(
        "Custom Upgrade Attribute Exceptions", "attrexceptions", "",
        "Upgrade Lower state only (Appendix C): attributes excluded from replication, as a "
        "';'-separated list of DS class names each followed by comma-separated attribute "
        "names in parentheses, e.g. User(Workgroups, Extension);Workgroup(Members, View User "
        "Queue List). By default this parameter is empty.",
    ),
    _optional(
        "Custom Upgrade File Synchronization Directories", "dirlist", "+/I3/IC/Flows",
        "Upgrade Lower state only (Appendix C): enables file mirroring of specific directories "
        "that you want to replicate. By default this parameter includes the +/I3/IC/Flows "
        "directory.",
    ),
    _optional(
        "Custom Upgrade File Synchronization Exceptions", "extlist", None,
        "Upgrade Lower state only (Appendix C): a different list of exceptions to apply to the "
        "Custom Upgrade File Synchronization Directories. Works like MirrorExceptions; if not "
        "set, it defaults to the exceptions set in MirrorExceptions (default None means "
        "exactly that).",
    ),
    _optional(
        "Custom Upgrade Synchronization Directories", "dspaths", DEFAULT_UPGRADE_SYNC_DIRS,
        "Upgrade Lower state only (Appendix C): ';'-delimited DS paths to replicate, "
        "recursively. The paths you specify are replicated in addition to the seven default "
        "paths.",
    ),
    _recovery("Directmessage", "social media direct message"),
    _optional(
        "ForceSwitchoverFQDNs", "bool", "No",
        "When set to Yes or 1, the Switchover system uses the names given in "
        "SwitchoverServerFQDN A and SwitchoverServerFQDN B instead of the names it resolves "
        "automatically. If missing or disabled, the FQDNs are resolved automatically.",
        no_effect=_FQDN_NO_EFFECT,
    ),
    _optional(
        "InitialMirrorDir", "dirlist", "",
        "One or more directories on the active server that are mirrored on the backup server "
        "when the server starts, in addition to the default mirrored directories. Not "
        "monitored afterwards. Separate directories with ';'; a + in front mirrors "
        "recursively.",
    ),
    _recovery("Mail", "email"),
    _optional(
        "Mail Interaction Recovery Filter Enabled", "bool", "No",
        "Limits the email interactions synchronised to the backup server: set to 1 to "
        "synchronise only the emails previously assigned to an agent's queue. Requires Mail "
        "Interaction Recovery Enabled. By default this parameter is set to 0 or Off. No "
        "restart is required.",
        dynamic=True,
    ),
    _optional(
        "MirrorExceptions", "extlist", "",
        "The extensions of file types that you do not want to mirror, separated with ';', "
        "for example: txt; gif; myext. Case-insensitive, with or without a leading dot.",
    ),
    _optional(
        "Server A Address", "address", None,
        "The IP address of the dedicated Switchover NIC on SwitchoverServer A in a dual or "
        "multiple NIC configuration. When Server A Address and Server B Address are set, the "
        "Switchover system uses these addresses exclusively to direct its traffic. In "
        "switchover the traffic goes to the address of SwitchoverServer A's [servers.NAME] "
        "table in the configuration; this parameter, when set, must equal it (checked when "
        "the configuration loads).",
    ),
    _optional(
        "Server B Address", "address", None,
        "The IP address of the dedicated Switchover NIC on SwitchoverServer B in a dual or "
        "multiple NIC configuration. When Server A Address and Server B Address are set, the "
        "Switchover system uses these addresses exclusively to direct its traffic. In "
        "switchover the traffic goes to the address of SwitchoverServer B's [servers.NAME] "
        "table in the configuration; this parameter, when set, must equal it (checked when "
        "the configuration loads).",
    ),
    _recovery("SMS", "SMS"),
    _recovery("Socialconversation", "social media conversation"),
    _optional(
        "StatServer_DisableQPSLoggingOnBackup", "bool", "No",
        "To disable the backup server from sending its log data to the CSV file, set this "
        "parameter to Yes.",
        no_effect="it configures the reference's Statserver (its CSV log of queue statistics), "
        "which switchover does not have",
    ),
    _optional(
        "Switchover Disable Gateway Ping", "bool", "Yes",
        "To enable the gateway ping, set this parameter to No or 0; to disable it, Yes or 1. "
        "If not set, the gateway ping is disabled because some gateways block ICMP echoes.",
    ),
    _optional(
        "Switchover DS Request Timeout", "seconds", 120,
        "The timeout (in seconds) for DS requests sent by the backup server to the primary "
        "server, during the initial startup of the backup or a resynchronisation. The default "
        "value is 120 seconds. (Range chosen by switchover: 1..3600.)",
        minimum=1, maximum=3600, range_note=CHOSEN + "the reference gives none",
    ),
    _optional(
        "Switchover File Monitor Health Check Interval", "seconds", 60,
        "The number of seconds between each health check request sent from the backup "
        "server to the File Monitor on the primary server. To turn off the health check, set "
        "this parameter to 0. The default value is 60 seconds. (Range chosen by switchover: "
        "0..3600.)",
        minimum=0, maximum=3600, range_note=CHOSEN + "0 turns the check off, at most an hour",
    ),
    _optional(
        "Switchover File Monitor Health Check Timeout", "seconds", 10,
        "The number of seconds the backup server gives File Monitor to respond to the health "
        "check request before it times out and traces the failure. The default value is 10 "
        "seconds. (Range chosen by switchover: 1..300.)",
        minimum=1, maximum=300, range_note=CHOSEN + "the reference gives none",
    ),
    _optional(
        "Switchover IP Retry Delay", "seconds", 1,
        "For Interaction Director systems: when monitoring IP, this parameter has the same "
        "effect as Switchover TS Failure Retry Delay. (Range chosen by switchover: 1..300, "
        "as for Switchover TS Failure Retry Delay.)",
        minimum=1, maximum=300,
        range_note=CHOSEN + "as Switchover TS Failure Retry Delay, greater than 0",
    ),
    _optional(
        "Switchover IP Timeout", "seconds", 10,
        "For Interaction Director systems: when monitoring IP, this parameter has the same "
        "effect as Switchover TS Timeout. (Range taken from Switchover TS Timeout: 5..60.)",
        minimum=5, maximum=60, range_note=CHOSEN + "as Switchover TS Timeout, 5 - 60 seconds",
    ),
    _optional(
        "Switchover Max Restarts", "int", 2,
        "The maximum number of times in a restart period that a new process ID can be "
        "returned in the TS ping notification before a restart occurs. By default, this value "
        "is 2. (Range chosen by switchover: 1..100.)",
        minimum=1, maximum=100, range_note=CHOSEN + "the reference gives none",
    ),
    _optional(
        "Switchover Max Restarts Period", "seconds", 300,
        "The time period (in seconds) during which the Switchover system counts TS ping "
        "notifications that contain new process IDs. By default, this value is 300 (5 "
        "minutes). (Range chosen by switchover: 1..86400.)",
        minimum=1, maximum=86400, range_note=CHOSEN + "the reference gives none, at most a day",
    ),
    _optional(
        "Switchover Max Sequential Restarts", "int", 2,
        "The maximum number of sequential times that a new process ID can be returned in the "
        "TS ping notification before a switch occurs. By default, this value is 2. (Range "
        "chosen by switchover: 1..100.)",
        minimum=1, maximum=100, range_note=CHOSEN + "the reference gives none",
    ),
    _optional(
        "Switchover Max TS Failures", "int", 2,
        "The number of TS ping failures the Switchover system on the backup server tolerates "
        "before starting a switchover. Set this value greater than 0. The default value is 2. "
        "The failure count is reset each time TS on the primary answers. (Maximum chosen by "
        "switchover: 100.)",
        minimum=1, maximum=100, dynamic=True,
        range_note='reference: "Set this value greater than 0"; maximum chosen by switchover',
    ),
    _optional(
        "Switchover Monitoring", "name", "TsServer",
        "For Interaction Director systems: the monitored module, e.g. IP instead of TS. The "
        "default value is TsServer.",
    ),
    _optional(
        "Switchover NetTest A", "address", None,
        "The name or IP address of a computer on the same network segment as SwitchoverServer "
        "B, pinged (ICMP echo) by SwitchoverServer A when it is the backup and a failure is "
        "detected. If it cannot be pinged, the active server is assumed operable and no "
        "switch occurs.",
    ),
    _optional(
        "Switchover NetTest B", "address", None,
        "The name or IP address of a computer on the same network segment as SwitchoverServer "
        "A, used by SwitchoverServer B when it is the backup server.",
    ),
    _optional(
        "Switchover NetTest Timeout", "seconds", 1,
        "The amount of time (in seconds) Switchover waits for the ICMP echo to a NetTest "
        "address to return. By default, this value is 1 second. (Range chosen by switchover: "
        "1..60.)",
        minimum=1, maximum=60, range_note=CHOSEN + "the reference gives none",
    ),
    _optional(
        "Switchover Notifier Reconnect Delay", "seconds", 5,
        "The interval in seconds that the Notifier connections wait to re-establish a new "
        "connection after a loss. The default value is 5. The minimum value is 5. The maximum "
        "value is 60.",
        minimum=5, maximum=60,
        range_note='reference: "The minimum value is 5. The maximum value is 60."',
    ),
    _optional(
        "Switchover Ping on Aux Connection", "bool", "0",
        "Moves the TS ping from the main data connection to the auxiliary connection. By "
        "default, this parameter is set to 0, which means it is not enabled.",
    ),
    _optional(
        "Switchover Primary Monitor Ping Delay", "seconds", 0,
        "The delay in seconds between the primary monitor pings to the notifier on the "
        "primary. The default value is 0. The maximum value is 300. (Minimum chosen by "
        "switchover: 0.)",
        minimum=0, maximum=300,
        range_note='reference: "The maximum value is 300"; minimum 0 chosen by switchover',
    ),
    _optional(
        "Switchover Primary Monitor Retry Ping Delay", "seconds", 0,
        "The delay in seconds between pings when the primary monitor is in retry mode. The "
        "default value is 0. The minimum value is 0. The maximum value is 300.",
        minimum=0, maximum=300,
        range_note='reference: "The minimum value is 0. The maximum value is 300."',
    ),
    _optional(
        "Switchover Primary Monitor Retry Count", "int", 2,
        "The number of times the primary monitor sends retry pings before it begins "
        "diagnosing the connection issues. The default value is 2. The minimum value is 1. "
        "The maximum value is 50.",
        minimum=1, maximum=50,
        range_note='reference: "The minimum value is 1. The maximum value is 50."',
    ),
    _optional(
        "Switchover Primary Monitor Timeout", "seconds", 0,
        "The timeout in seconds for a ping from the primary monitor on the backup to the "
        "notifier on the primary; without an answer the primary monitor begins its retry "
        "mode. The default value is 0, which means one half of the monitored module timeout "
        "(default 10 seconds). The maximum value is 300.",
        minimum=0, maximum=300,
        range_note='reference: "The maximum value is 300"; 0 means half the module timeout',
    ),
    _optional(
        "Switchover QoS DSCP", "int", 34,
        "When Switchover Use QoS For Ping is enabled, the value in the QoS byte: the "
        "Differentiated Services Code Point, the 6 most significant bits. AF41 (DSCP 34) is "
        "tagged by default. Switchover writes it into the IP TOS byte as DSCP << 2 (34 "
        "gives 0x88).",
        minimum=0, maximum=63,
        range_note='reference: "DSCP is the 6 most significant bits"',
    ),
    _optional(
        "Switchover Reconnect Timeout", "seconds", 30,
        "The duration in seconds that switchover on the backup attempts to reconnect with the "
        "primary, once the primary monitor has diagnosed the connection. A value of 0 means "
        "an immediate switchover when a connection is lost. The default value is 30. The "
        "minimum value is 0. There is no maximum value.",
        minimum=0,
        range_note='reference: "The minimum value is 0. There is no maximum value."',
    ),
    _optional(
        "Switchover TS Failure Retry Delay", "seconds", 1,
        "The number of seconds the Switchover system waits, after marking a TS failure, "
        "before sending the next ping. Set this value to greater than 0 seconds. The default "
        "is 1 second. (Whole seconds; maximum chosen by switchover: 300.)",
        minimum=1, maximum=300, dynamic=True,
        range_note='reference: "Set this value to greater than 0 seconds"; '
        "maximum chosen by switchover",
    ),
    _optional(
        "Switchover TS Timeout", "seconds", 10,
        "The number of seconds the Switchover system waits from the time the ping is sent "
        "until it is marked as a TS failure, and after a TS success before it sends another "
        "ping. Set this value between 5 - 60 seconds. The default is 10 seconds.",
        minimum=5, maximum=60, dynamic=True,
        range_note='reference: "Set this value between 5 - 60 seconds"',
    ),
    _optional(
        "Switchover Unreachable Primary Ping Count", "int", 0,
        "The maximum number of ping sets sent to an unreachable primary before switching "
        "over. Values 0-3 send 3 additional ping sets; -1 means unlimited attempts, so no "
        "switchover while the primary is unreachable. The default value is 0. The minimum "
        "value is -1. There is no maximum value.",
        minimum=-1,
        range_note='reference: "The minimum value is -1. There is no maximum value."',
    ),
    _optional(
        "Switchover Unreachable Primary Ping Delay", "seconds", 10,
        "The interval in seconds between sending ping sets to an unreachable primary. The "
        "default value is 10. The minimum value is 1. The maximum value is 300.",
        minimum=1, maximum=300,
        range_note='reference: "The minimum value is 1. The maximum value is 300."',
    ),
    _optional(
        "Switchover Use QoS for Ping", "bool", "No",
        "Set to Yes or 1 to tag the TS ping on the auxiliary connection with QoS (see "
        "Switchover QoS DSCP). Takes effect only together with Switchover Ping on Aux "
        "Connection. Switchover sets the IP TOS byte (the DSCP shifted left by 2) on the "
        "backup's auxiliary connection to the active's Notifier, so every packet the backup "
        "sends on it (the ping, the primary monitor's pings and heartbeats on aux, and "
        "replication only while the main connection is down) carries the mark; the "
        "active's answers are not marked. Read when the connections are made: a change "
        "needs a restart.",
    ),
    _optional(
        "SwitchoverServerFQDN A", "address", None,
        "When ForceSwitchoverFQDNs is enabled, the fully qualified domain name of Switchover "
        "Server A.",
        no_effect=_FQDN_NO_EFFECT,
    ),
    _optional(
        "SwitchoverServerFQDN B", "address", None,
        "When ForceSwitchoverFQDNs is enabled, the fully qualified domain name of Switchover "
        "Server B.",
        no_effect=_FQDN_NO_EFFECT,
    ),
)
