"""Operator commands, one module each (name, help, arguments, execute)."""
from switchover.commands import demo, keys, module, ping, query_backup, run, status, switch
from switchover.commands import ds, params
from switchover.commands import interactions
from switchover.commands import files
from switchover.commands import completion, config_check, deploy_files, events
from switchover.commands import pause, rejoin, resume

#: The order `switchover --help` lists them in.
REGISTRY = (run, status, events, switch, pause, resume, rejoin, query_backup, ping, module, keys,
            demo, params, ds, interactions, files, config_check, completion, deploy_files)
