"""mrisynth.models"""
