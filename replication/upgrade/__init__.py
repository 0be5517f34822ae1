"""What the backup replicates in the Upgrade Higher and Upgrade Lower states (Appendix C).

See docs/ds.md.
"""
from .filters import (FULL, FullFilter, UpgradeHigherFilter, UpgradeLowerFilter,
                      filter_for_state)
from .spec import SpecError, parse_attribute_exceptions, parse_ds_paths

__all__ = [
    "FULL", "FullFilter", "SpecError", "UpgradeHigherFilter", "UpgradeLowerFilter",
    "filter_for_state", "parse_attribute_exceptions", "parse_ds_paths",
]
