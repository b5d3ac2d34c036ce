"""Data sources: Fashion-MNIST / MNIST (IDX), CIFAR (pickle batches), ImageFolder, synthetic; batched augmentation."""
