# FDA (Yang & Soatto, CVPR 2020): the method's knobs. Values from the official
# code (github.com/YanchaoYang/FDA) unless marked "assumed".
model = dict(
    type='FDA',
    # README, "Sim2Real Adaptation Using FDA (single beta)": --LB=0.01 (the
    # multi-band models use 0.01, 0.05 and 0.09; train_options.py's default
    # is 0.1). The window is b = floor(min(h, w) * beta) frequencies
    # (utils/__init__.py low_freq_mutate): 5 on the release's 1024x512 crops
    beta=0.01,
    # README: --entW=0.005 (train_options.py: the same default)
    entropy_weight=0.005,
    # README: --ita=2.0, the Charbonnier exponent of model/deeplab.py's
    # robust entropy (ent^2 + 1e-8)^ita
    eta=2.0,
    # README: --switch2entropy=0 (train.py: the entropy term from step i > 0;
    # train_options.py's default is 50000)
    entropy_after=0)
