# ADVENT's MinEnt alone (no discriminator) on the mini task.
_base_ = ['./mini.py']
model = dict(advent=False)
