"""The tfk8s stand-in for TF Serving's `tensorflow_model_server`: its REST and gRPC APIs in front of
real TensorFlow executing a SavedModel. What it implements and how it differs from TF Serving:
serving-standin/README.md. Run it as `python3 serving-standin [--flag=value ...]`.
"""
