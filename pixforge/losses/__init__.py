"""Every loss pixforge trains or optimises with, as plain functions: adversarial objectives and their
regularisers, perceptual (VGG feature) losses, and pixel losses."""
