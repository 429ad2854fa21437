from .adversarial_loss import (GAN_MODES, SOURCE_LABEL, TARGET_LABEL,
                               AdversarialLoss, gan_loss)
from .fc_discriminator import FCDiscriminator
from .level_discriminators import LevelDiscriminators

__all__ = [
    'FCDiscriminator', 'LevelDiscriminators', 'AdversarialLoss', 'gan_loss',
    'GAN_MODES', 'SOURCE_LABEL', 'TARGET_LABEL'
]
