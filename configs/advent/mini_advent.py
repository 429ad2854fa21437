# ADVENT's AdvEnt alone (no entropy term) on the mini task.
_base_ = ['./mini.py']
model = dict(minent=False)
