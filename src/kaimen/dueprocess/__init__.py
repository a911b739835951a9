"""Due process: the court list, identity links, restrictions, disputes, settlement
reconciliation and the clocks that run against the furnisher, not the person."""
