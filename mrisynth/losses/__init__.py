"""mrisynth.losses"""
