#!/bin/bash
# Entrypoint of the tfk8s stand-in image, with the contract of tensorflow/serving's
# /usr/bin/tf_serving_entrypoint.sh: TF Serving's default ports, the model at
# $MODEL_BASE_PATH/$MODEL_NAME (ENV defaults: /models, model), and the image's CMD or the
# `docker run` arguments appended as extra flags. Like the real script it does not exec: bash stays
# PID 1, which the kernel spares SIGTERM, so a stop waits out the grace period and ends in SIGKILL,
# as with TF Serving, which handles no SIGTERM either (tensorflow/serving#1853).
tensorflow_model_server --port=8500 --rest_api_port=8501 \
    --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"
