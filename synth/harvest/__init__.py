"""synth/harvest"""
