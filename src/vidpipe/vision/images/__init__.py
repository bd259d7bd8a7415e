"""Pictures for narrated videos: one image per narration chunk, behind one interface.

A narrated video shows one picture while each :class:`~vidpipe.types.Chunk` of the
narration is spoken. Every source of pictures is an :class:`ImageGenerator`; pick one
with :func:`get_image_generator` and a spec string:

==================  ==========================================================================
spec                pictures
==================  ==========================================================================
``cards``           designed title cards drawn offline with Pillow (the default): a headline
                    and 2-4 key phrases from the chunk's text, its time range and position
``folder:DIR``      the user's own images from ``DIR`` in natural name order, cycled when
                    there are fewer images than chunks
``frames``          the source video's picture at each chunk's midpoint (``source_video=``)
``sdwebui``         Stable Diffusion WebUI (AUTOMATIC1111 / Forge) ``/sdapi/v1/txt2img``
``openai``          any OpenAI-compatible ``/v1/images/generations`` endpoint
==================  ==========================================================================

Which to choose: ``cards`` needs nothing (no network, no model) and suits talks,
lectures and documents; ``frames`` when the narration comes from a video whose own
pictures are worth showing; ``folder:DIR`` when you have pictures of your own;
``sdwebui`` (a local Stable Diffusion server) or ``openai`` (a paid or self-hosted
images API) for illustrations, which cost a model call per chunk and are slower.

One module per generator: :mod:`~vidpipe.vision.images.cards` (card text and design),
:mod:`~vidpipe.vision.images.folder`, :mod:`~vidpipe.vision.images.frames`,
:mod:`~vidpipe.vision.images.sdwebui`, :mod:`~vidpipe.vision.images.openai_images`;
the interface, records and PNG provenance in :mod:`~vidpipe.vision.images.base`, the
image-model prompts in :mod:`~vidpipe.vision.images.prompts`, what the two image-model
generators share in :mod:`~vidpipe.vision.images.models`, and the factory in
:mod:`~vidpipe.vision.images.factory`.

Generated pictures (cards, sdwebui, openai) are PNG files ``<out_dir>/<generator>-NNN.png``
(NNN = the chunk's position from 001), written atomically, carrying their prompt,
generator and chunk id in PNG text chunks (``vidpipe:prompt``, ``vidpipe:generator``,
``vidpipe:chunk``) plus ``vidpipe:key``, a hash of everything the picture depends on
(generator, its parameters, the chunk's text and language, the prompt source): the
picture's provenance. A generator draws (or requests) every picture it is asked for;
reruns are answered by the pipeline's stage cache (:mod:`vidpipe.pipeline.cache`),
which skips the whole ``images`` stage. Frames stay JPEG (``frame-NNN.jpg``, prompt ``None``);
folder images are returned where they are.

Prompts for the image models come from :func:`image_prompt`: a one-line scene
description written by an LLM when one is given (``llm=``, any object with
``complete(prompt, *, max_tokens=None) -> str`` such as
:class:`vidpipe.text.llm.OpenAIBackend`), else built from the chunk's keywords.

Sizes are in pixels, times in seconds. Example::

    gen = get_image_generator("cards", width=1920, height=1080)
    images = gen.generate(chunks, Path("work/images"), language="en")
"""

from vidpipe.files import natural_key
from vidpipe.vision.images.base import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    GENERATOR_SPECS,
    META_CHUNK,
    META_GENERATOR,
    META_KEY,
    META_PROMPT,
    SAFE_BOTTOM,
    GeneratedImage,
    ImageGenerator,
    ImageRecords,
    read_image_metadata,
    write_png,
)
from vidpipe.vision.images.cards import (
    CARD_DESIGN,
    CARD_PALETTE,
    CardGenerator,
    RenderedCard,
    TextBox,
    card_background,
    card_text,
    render_card,
)
from vidpipe.vision.images.factory import get_image_generator
from vidpipe.vision.images.folder import FolderImages
from vidpipe.vision.images.frames import FrameImages
from vidpipe.vision.images.openai_images import OpenAIImageGenerator
from vidpipe.vision.images.prompts import DEFAULT_STYLE, image_prompt
from vidpipe.vision.images.sdwebui import SDWebUIGenerator

__all__ = [
    "CARD_DESIGN",
    "CARD_PALETTE",
    "DEFAULT_HEIGHT",
    "DEFAULT_STYLE",
    "DEFAULT_WIDTH",
    "GENERATOR_SPECS",
    "META_CHUNK",
    "META_GENERATOR",
    "META_KEY",
    "META_PROMPT",
    "SAFE_BOTTOM",
    "CardGenerator",
    "FolderImages",
    "FrameImages",
    "GeneratedImage",
    "ImageGenerator",
    "ImageRecords",
    "OpenAIImageGenerator",
    "RenderedCard",
    "SDWebUIGenerator",
    "TextBox",
    "card_background",
    "card_text",
    "get_image_generator",
    "image_prompt",
    "natural_key",
    "read_image_metadata",
    "render_card",
    "write_png",
]
