namespace QuantPS.Kernels.Formats;

// Plain element types: one value per "block", no quantization.

[GgmlBlock(0, "F32", "f32", blockSize: 1, typeSize: 4)]
[Element("Value", NumberFormat.F32)]
[Reconstruct(ValueScheme.Element)]
[Activation("F32")]
[ActivationQuantizer(QuantizerRule.Convert)]
public partial struct ElementF32;

[GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
[Element("Value", NumberFormat.F16)]
[Reconstruct(ValueScheme.Element)]
[Activation("F16")]
[ActivationQuantizer(QuantizerRule.Convert)]
public partial struct ElementF16;

[GgmlBlock(24, "I8", "i8", blockSize: 1, typeSize: 1)]
[Element("Value", NumberFormat.I8)]
public partial struct ElementI8;

[GgmlBlock(25, "I16", "i16", blockSize: 1, typeSize: 2)]
[Element("Value", NumberFormat.I16)]
public partial struct ElementI16;

[GgmlBlock(26, "I32", "i32", blockSize: 1, typeSize: 4)]
[Element("Value", NumberFormat.I32)]
public partial struct ElementI32;

[GgmlBlock(27, "I64", "i64", blockSize: 1, typeSize: 8)]
[Element("Value", NumberFormat.I64)]
public partial struct ElementI64;

[GgmlBlock(28, "F64", "f64", blockSize: 1, typeSize: 8)]
[Element("Value", NumberFormat.F64)]
public partial struct ElementF64;

[GgmlBlock(30, "BF16", "bf16", blockSize: 1, typeSize: 2)]
[Element("Value", NumberFormat.BF16)]
[Reconstruct(ValueScheme.Element)]
[Activation("BF16")]
[ActivationQuantizer(QuantizerRule.Convert)]
public partial struct ElementBF16;
