using QuantPS.Kernels;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>The kernel half of GgmlTypeInfo: pairings as llama.cpp's CPU backend has them, and which types have kernels.</summary>
public sealed class KernelContractTests
{
    [Fact]
    public void Activation_types_pair_as_llama_cpp_pairs_them()
    {
        var rows = File.ReadAllLines(SharedData.File("golden/tensors/traits.tsv")).Skip(1).Select(line => line.Split('\t'));
        foreach (var row in rows)
        {
            var info = KernelGolden.Info(row[1]);
            if (info.Dot is null)
            {
                continue;
            }

            Assert.Equal(row[6], GgmlTypeTraits.Get(info.ActivationType).GgmlName);
        }
    }

    [Fact]
    public void Every_weight_type_has_kernels()
    {
        var weights = new[]
        {
            GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q8_1,
            GgmlType.IQ4_NL, GgmlType.MXFP4, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
            GgmlType.TQ2_0, GgmlType.Q1_0, GgmlType.Q2_0, GgmlType.IQ4_XS, GgmlType.NVFP4, GgmlType.TQ1_0,
            GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M,
        };
        foreach (var info in GgmlTypeTraits.All)
        {
            Assert.Equal(weights.Contains(info.Type), info.HasKernels);
            Assert.Equal(info.Dequantize is null, info.DequantizeReference is null);
        }

        // Activation-only Q8_K: dequantize and quantize, no dot, and it names itself.
        var q8k = GgmlTypeTraits.Get(GgmlType.Q8_K);
        Assert.Equal(GgmlType.Q8_K, q8k.ActivationType);
        Assert.NotNull(q8k.Dequantize);
        Assert.NotNull(q8k.QuantizeActivation);
        Assert.Null(q8k.Dot);
        Assert.Equal(GgmlType.Q8_1, GgmlTypeTraits.Get(GgmlType.Q8_1).ActivationType);
        Assert.Equal(GgmlType.Q8_K, GgmlTypeTraits.Get(GgmlType.Q4_K).ActivationType);
        foreach (var grid in new[] { GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M })
        {
            Assert.Equal(GgmlType.Q8_K, GgmlTypeTraits.Get(grid).ActivationType);
            Assert.NotNull(GgmlTypeTraits.Get(grid).Dot);
        }
    }
}
