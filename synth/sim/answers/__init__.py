"""synth/sim/answers"""
