"""A case's life: opening one (report), moving it (lifecycle), telling its parties (announce), its
photos, routing policy and service levels, the timers the scheduler sweeps, and handing cases on
when the directory changes."""
