"""Model code: registry/factory over the top-level ``models/*.json``, towers, dual encoder,
anatomy decoder, model folders. Imports without Lightning."""

from radkit.models.factory import create_model, get_model_config, list_models, load_model

__all__ = ["create_model", "get_model_config", "list_models", "load_model"]
