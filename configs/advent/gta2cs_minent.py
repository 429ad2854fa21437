# ADVENT's MinEnt alone (advent/scripts/configs/minent.yml: DA_METHOD
# MinEnt), DeepLabV2 ResNet-101, gta2cs.
_base_ = ['./gta2cs.py']
reference_key = 'minent'
model = dict(advent=False)
