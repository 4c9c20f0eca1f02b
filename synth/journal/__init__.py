"""synth/journal"""
