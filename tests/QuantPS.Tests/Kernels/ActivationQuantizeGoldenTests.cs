using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// The activation quantizers (ggml's CPU from_float) at every width against ggml's bytes: act_q.bin of
/// activation.f32 in each weight folder, q8_1/q.bin and q_cpu.bin and q8_K/q_cpu.bin of input.f32.
/// </summary>
public sealed class ActivationQuantizeGoldenTests
{
    /// <summary>(golden file, input, activation type).</summary>
    private static readonly (string File, string Input, GgmlType Type)[] Goldens =
    {
        ("q8_0/act_q.bin", "activation.f32", GgmlType.Q8_0),
        ("q4_1/act_q.bin", "activation.f32", GgmlType.Q8_1),
        ("q8_1/q.bin", "input.f32", GgmlType.Q8_1),
        ("q8_1/q_cpu.bin", "input.f32", GgmlType.Q8_1),
        ("q8_K/q_cpu.bin", "input.f32", GgmlType.Q8_K),
        ("q4_K/act_q.bin", "activation.f32", GgmlType.Q8_K),
        ("f16/act_q.bin", "activation.f32", GgmlType.F16),
        ("bf16/act_q.bin", "activation.f32", GgmlType.BF16),
    };

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var golden in Goldens)
        {
            foreach (var width in KernelWidth.All)
            {
                data.Add(golden.File, width.ToString());
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Quantized_activations_equal_ggml_byte_for_byte(string file, string width)
    {
        var golden = Goldens.Single(entry => entry.File == file);
        var info = GgmlTypeTraits.Get(golden.Type);
        var kernel = GgmlKernelCatalog.QuantizeActivation(golden.Type, Enum.Parse<VectorWidth>(width))!;

        var actual = KernelGolden.Quantize(kernel, info, KernelGolden.Floats(golden.Input));
        var expected = KernelGolden.Bytes(file);

        Assert.Equal(expected.Length, actual.Length);
        var at = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(at == expected.Length, $"{file} at {width}: byte {at} (block {at / info.TypeSize}, offset {at % info.TypeSize}) differs");
    }

    [Fact]
    public void Every_activation_type_of_the_table_has_a_quantizer()
    {
        foreach (var info in GgmlTypeTraits.All.Where(info => info.Dot is not null))
        {
            Assert.NotNull(GgmlTypeTraits.Get(info.ActivationType).QuantizeActivation);
        }

        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.Q8_K })
        {
            Assert.NotNull(GgmlTypeTraits.Get(type).QuantizeActivation);
        }
    }

    [Fact]
    public void F32_activations_are_copied()
    {
        var input = KernelGolden.Floats("activation.f32");
        var info = GgmlTypeTraits.Get(GgmlType.F32);

        var bytes = KernelGolden.Quantize(info.QuantizeActivation!, info, input);

        Assert.Equal(-1, KernelGolden.FirstBitDifference(input, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes)));
    }
}
