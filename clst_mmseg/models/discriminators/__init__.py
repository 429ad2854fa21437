from .adversarial_loss import (GAN_MODES, SOURCE_LABEL, TARGET_LABEL,
                               AdversarialLoss, gan_loss)
from .fc_discriminator import FCDiscriminator

__all__ = [
    'FCDiscriminator', 'AdversarialLoss', 'gan_loss', 'GAN_MODES',
    'SOURCE_LABEL', 'TARGET_LABEL'
]
