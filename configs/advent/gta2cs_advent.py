# ADVENT's AdvEnt alone (advent/scripts/configs/advent.yml: DA_METHOD
# AdvEnt), DeepLabV2 ResNet-101, gta2cs.
_base_ = ['./gta2cs.py']
reference_key = 'advent_adv'
model = dict(minent=False)
