# DAFormer's parameter-wise learning rates (lhoyer/DAFormer: the gta2cs
# config's optimizer.paramwise_cfg.custom_keys), shared by
# schedules/daformer_40k.py and daformer_mini.py: lr x10 on parameters named
# 'head', no weight decay on 'pos_block' and 'norm'; mmengine matches the
# keys as mmcv did (substrings of the parameter name, the longest first).
# Assumed: mmseg 1.x's MixVisionTransformer names the LayerNorm closing each
# stage layers.<i>.2 (DAFormer's mix_transformer.py: norm1..norm4, caught
# by 'norm'), so the four are named to keep them out of the weight decay as
# released.
daformer_paramwise_cfg = dict(
    custom_keys={
        'head': dict(lr_mult=10.0),
        'pos_block': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0),
        'backbone.layers.0.2.': dict(decay_mult=0.0),
        'backbone.layers.1.2.': dict(decay_mult=0.0),
        'backbone.layers.2.2.': dict(decay_mult=0.0),
        'backbone.layers.3.2.': dict(decay_mult=0.0),
    })
