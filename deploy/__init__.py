"""The deployment files shipped with the package: systemd units, supervisord programs,
example configurations, the shipped hooks. `switchover deploy-files DIR` copies them out."""
