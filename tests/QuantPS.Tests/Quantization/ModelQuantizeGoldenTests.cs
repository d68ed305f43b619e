using System.Runtime.InteropServices;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Quantization;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Quantization;

/// <summary>
/// Whole tensors of llama-quantize outputs (golden/quantized, README section 3): every tensor whose
/// type we quantize to must come out byte-identical from the source model's weights, with the
/// imatrix vector llama-quantize used where the output was made with --imatrix.
/// </summary>
public class ModelQuantizeGoldenTests
{
    public static TheoryData<string, string, string?> Outputs() => new()
    {
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-Q4_K_M-imatrix.gguf", "golden/imatrix/stories260K.imatrix.gguf" },
        // The legacy .dat gives the same vectors, hence the same bytes.
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-Q4_K_M-imatrix.gguf", "golden/imatrix/stories260K.imatrix.dat" },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-Q5_K_S-imatrix.gguf", "golden/imatrix/stories260K.imatrix.gguf" },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-Q2_K-imatrix.gguf", "golden/imatrix/stories260K.imatrix.gguf" },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-IQ4_XS-imatrix.gguf", "golden/imatrix/stories260K.imatrix.gguf" },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-Q4_1-ffn_down-f16.gguf", null },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-Q5_1-ffn_down-f16.gguf", null },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-IQ4_NL-ffn_down-f16.gguf", null },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-TQ1_0.gguf", null },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-Q2_0.gguf", null },
        { "models/tinyllamas-stories260K/stories260K.gguf", "golden/quantized/stories260K/stories260K-BF16.gguf", null },
        { "golden/models/synth-256.gguf", "golden/quantized/synth-256/synth-256-Q4_K_M.gguf", null },
        { "golden/models/synth-256.gguf", "golden/quantized/synth-256/synth-256-Q5_K_S.gguf", null },
        { "golden/models/synth-256.gguf", "golden/quantized/synth-256/synth-256-Q2_K.gguf", null },
        { "golden/models/synth-256.gguf", "golden/quantized/synth-256/synth-256-IQ4_XS.gguf", null },
        { "golden/models/synth-256.gguf", "golden/quantized/synth-256/synth-256-Q8_0.gguf", null },
    };

    [Theory]
    [MemberData(nameof(Outputs))]
    public void TensorsMatchLlamaQuantize(string source, string output, string? imatrixPath)
    {
        using var input = GgufModel.Open(SharedData.File(source));
        using var expected = GgufModel.Open(SharedData.File(output));
        var imatrix = imatrixPath is null ? null : ImportanceMatrix.Load(SharedData.File(imatrixPath));

        int compared = 0, withImportance = 0;
        var failures = new List<string>();
        foreach (var target in expected.Tensors)
        {
            var original = input.FindTensor(target.Name);
            Assert.NotNull(original);
            if (target.Type == original.Type || !TypeQuantizer.IsSupported(target.Type))
            {
                continue;
            }

            var values = ToFloats(input, original);
            var importance = imatrix?.ForTensor(target) ?? Array.Empty<float>();
            var actual = new byte[target.SizeBytes];
            TypeQuantizer.Quantize(target.Type, values, (int)target.RowLength, actual, importance);
            var want = expected.GetTensorData(target);
            compared++;
            withImportance += importance.Length > 0 ? 1 : 0;
            if (!want.SequenceEqual(actual))
            {
                int at = want.CommonPrefixLength(actual);
                failures.Add($"{target.Name} {target.Type} (imatrix: {importance.Length > 0}): first difference at byte {at} (block {at / target.TypeInfo.TypeSize})");
            }
        }

        Assert.True(compared > 0, "no tensor of a supported type in " + output);
        Assert.True(imatrix is null || withImportance > 0, "the imatrix matched no tensor");
        Assert.True(failures.Count == 0, $"{failures.Count} of {compared} tensors differ:\n" + string.Join("\n", failures));
    }

    private static float[] ToFloats(GgufModel model, GgufTensorInfo tensor)
    {
        var bytes = model.GetTensorData(tensor);
        return tensor.Type switch
        {
            GgmlType.F32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
            GgmlType.F16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(FloatConversions.HalfToSingle).ToArray(),
            GgmlType.BF16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(FloatConversions.BFloat16ToSingle).ToArray(),
            _ => throw new InvalidOperationException($"{tensor.Name} is {tensor.Type} in the source model"),
        };
    }
}
