# DAFormer's training on the CPU tasks (mini, adverse, aerial; 250 iterations, random
# initialisation): uda/daformer.py with the knobs that depend on ImageNet
# weights, the schedule's length or Cityscapes' images restated.
_base_ = ['./daformer.py']
model = dict(
    # assumed: DACS's 0.99 on the 250-iteration schedule; with 0.999 the
    # teacher would be the plain average of every student so far for the
    # whole run (alpha_t = 1 - 1/(t+1) stays below 0.999 until t = 999)
    alpha=0.99,
    # off: the feature distance pulls the features towards an
    # ImageNet-pretrained encoder, which the CPU tasks do not have; its
    # classes would be mini's thing class (car; adverse.py restates them)
    fd_weight=0.0,
    fd_classes=[6],
    # assumed: no margins; the generated images have no rectification
    # border or ego vehicle, and their crops are not the image's height
    pseudo_ignore_top=0,
    pseudo_ignore_bottom=0)
rare_class_sampling = dict(
    # assumed: the release's 3000 pixels of a 1914x1052 GTA5 label scaled
    # to a 64x64 label (3000 x 4096 / 2013528 = 6.1); the crop threshold
    # follows (x min_crop_ratio 0.5)
    min_pixels=6)
