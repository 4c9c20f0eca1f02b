"""synth/dataset"""
