"""Small GAN specs the GAN tests share (the library's own is specs/dcgan_digits.yaml)."""

TINY_GAN = """netspec: 1
name: tiny_gan
description: a very small DCGAN for the tests
vars: {z: 4}
networks:
  generator:
    input: {shape: ["${z}"]}
    layers:
      - {type: linear, units: 16, activation: relu}
      - {type: reshape, shape: [4, 2, 2]}
      - {type: conv_transpose2d, filters: 2, kernel: 4, stride: 2, padding: 1, bias: false}   # batchnorm follows
      - batchnorm
      - relu
      - {type: conv_transpose2d, filters: 1, kernel: 4, stride: 2, padding: 1, activation: tanh}
  discriminator:
    input: {shape: [1, 8, 8]}
    layers:
      - {type: conv2d, filters: 2, kernel: 4, stride: 2, padding: 1, activation: {type: leaky_relu, slope: 0.2}}
      - flatten
      - {type: linear, units: 1}
train:
  method: gan
  latent: uniform
  optimizer: {generator: {type: adam, lr: 0.001, betas: [0.5, 0.999]}, discriminator: {type: sgd, lr: 0.01, momentum: 0.5}}
  epochs: 2
  batch_size: 8
  label_smoothing: 0.1
  d_steps: 2
  data: {name: digits, range: [-1, 1], samples: 32}
"""
