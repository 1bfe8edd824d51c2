"""The course's networks, one builder per network, in the style of ``keras.applications``.

Each builder takes keyword arguments with defaults and returns an uncompiled
``keras.Model`` named after the network, built from ``keras.layers`` only, so it runs on
any Keras 3 backend. The blocks the notebooks show on their own live in
``cnnkit.models.blocks``.
"""

from . import blocks
from .alexnet import alexnet, alexnet_cifar
from .googlenet import googlenet, mini_googlenet
from .lenet import lenet
from .mobilenet import mobilenet
from .resnet import resnet, resnet50
from .speedrun import CIFAR10_MEAN, CIFAR10_STD, speedrun
from .vgg import mini_vgg, vgg16
from .yolo import tiny_yolo

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "alexnet",
    "alexnet_cifar",
    "blocks",
    "googlenet",
    "lenet",
    "mini_googlenet",
    "mini_vgg",
    "mobilenet",
    "resnet",
    "resnet50",
    "speedrun",
    "tiny_yolo",
    "vgg16",
]
