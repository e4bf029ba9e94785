"""Standard TFLite Metadata for exported TFLite files: what TFLite Support and MediaPipe Tasks read.

Besides catdog's own "catdog" entry, every exported .tflite carries the metadata of the TFLite
Metadata schema (`metadata_schema.fbs`, https://www.tensorflow.org/lite/models/convert/metadata):

* a "TFLITE_METADATA" entry in the model's `metadata` list pointing at a buffer holding a
  `ModelMetadata` flatbuffer (file identifier "M001"), built with the schema's generated object
  API (`catdog.export.vendor.metadata_schema_py_generated`);
* the input tensor described as an RGB image (ImageProperties) with its value statistics, and,
  when the input is float, a NormalizationOptions process unit (mean 0, std 1: exported files
  take raw 0..255 pixels, any scaling is inside the graph);
* the output tensor described as K probabilities (FeatureProperties, range 0..1) with a label
  file, one label per line in index order, attached as TENSOR_AXIS_LABELS;
* the label file itself packed after the flatbuffer as a zip archive, which is how the schema
  stores associated files (MediaPipe's `MetadataPopulator` appends it the same way).

This is the layout MediaPipe's ImageClassifier needs to name its categories.
"""

from __future__ import annotations

import io
import zipfile

from catdog.runtime.metadata import LABEL_FILE_NAME
from catdog.runtime.spec import ModelSpec

METADATA_FILE_IDENTIFIER = b"M001"
TFLITE_FILE_IDENTIFIER = b"TFL3"
# The oldest metadata parser that understands every field written here (all from schema 1.0.0).
MIN_PARSER_VERSION = "1.0.0"


def label_file(spec: ModelSpec) -> bytes:
    """The associated label file: one label per line, in output index order, UTF-8."""
    return ("\n".join(spec.labels) + "\n").encode("utf-8")


def build_model_metadata(spec: ModelSpec, *, float_input: bool, name: str, description: str,
                         version: str) -> bytes:
    """The `ModelMetadata` flatbuffer (identifier "M001") describing an exported classifier.

    `float_input` adds the NormalizationOptions the schema requires for a float image input.
    """
    import flatbuffers

    from catdog.export.vendor import metadata_schema_py_generated as schema

    image = schema.TensorMetadataT()
    image.name = "image"
    image.description = (f"RGB image, {spec.image_size[0]}x{spec.image_size[1]} (height x width), "
                         "raw pixel values 0..255; any scaling is inside the model.")
    image.content = schema.ContentT()
    image.content.contentProperties = schema.ImagePropertiesT()
    image.content.contentProperties.colorSpace = schema.ColorSpaceType.RGB
    image.content.contentPropertiesType = schema.ContentProperties.ImageProperties
    image.stats = _stats(minimum=0.0, maximum=255.0)
    if float_input:
        unit = schema.ProcessUnitT()
        unit.optionsType = schema.ProcessUnitOptions.NormalizationOptions
        unit.options = schema.NormalizationOptionsT()
        unit.options.mean = [0.0]
        unit.options.std = [1.0]
        image.processUnits = [unit]

    labels = schema.AssociatedFileT()
    labels.name = LABEL_FILE_NAME
    labels.description = "Class labels, one per line, in output index order."
    labels.type = schema.AssociatedFileType.TENSOR_AXIS_LABELS

    probabilities = schema.TensorMetadataT()
    probabilities.name = "probability"
    probabilities.description = f"Probabilities of the {spec.num_classes} labels, in label order, summing to 1."
    probabilities.content = schema.ContentT()
    probabilities.content.contentProperties = schema.FeaturePropertiesT()
    probabilities.content.contentPropertiesType = schema.ContentProperties.FeatureProperties
    probabilities.stats = _stats(minimum=0.0, maximum=1.0)
    probabilities.associatedFiles = [labels]

    subgraph = schema.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [probabilities]

    model = schema.ModelMetadataT()
    model.name = name
    model.description = description
    model.version = version
    model.author = "catdog-export"
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), METADATA_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _stats(*, minimum: float, maximum: float):
    from catdog.export.vendor import metadata_schema_py_generated as schema

    stats = schema.StatsT()
    stats.min = [minimum]
    stats.max = [maximum]
    return stats


def attach_associated_files(model_bytes: bytes, files: dict[str, bytes]) -> bytes:
    """Append `files` to the flatbuffer as a zip archive, the schema's storage for associated files.

    Interpreters read the flatbuffer from its start and ignore the trailing archive; metadata
    readers open the whole file as a zip (an archive may be preceded by other data).
    """
    stream = io.BytesIO(model_bytes)
    stream.seek(0, io.SEEK_END)
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return stream.getvalue()

