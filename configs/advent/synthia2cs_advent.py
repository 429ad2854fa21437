# ADVENT's AdvEnt alone (advent/scripts/configs/advent.yml: DA_METHOD
# AdvEnt), DeepLabV2 ResNet-101, synthia2cs.
_base_ = ['./synthia2cs.py']
reference_key = 'advent_adv'
model = dict(minent=False)
