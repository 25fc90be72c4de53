"""Network architectures, each file with the pretrained weights it can load declared beside it."""
