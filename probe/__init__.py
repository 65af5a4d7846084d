"""apim-probe: watch the network dependencies of Azure API Management in a VNet."""

__version__ = "0.2.0"
