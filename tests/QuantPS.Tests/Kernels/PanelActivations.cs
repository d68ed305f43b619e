using QuantPS.Kernels;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// The activation rows the panel tests multiply: the golden activations scaled and partly negated differently per row,
/// quantized to the activation type, and decoded back to its integers and block scales.
/// </summary>
internal static class PanelActivations
{
    public static unsafe (byte[] Quantized, sbyte[] Values, float[] Scales)[] Golden(GgmlTypeInfo activation, int rows, int count)
    {
        var source = KernelGolden.Floats("activation.f32").AsSpan(0, count).ToArray();
        var result = new (byte[], sbyte[], float[])[rows];
        for (var t = 0; t < rows; t++)
        {
            var scaled = source.Select((v, i) => v * (0.75f + t) * (i % 5 == t ? -1 : 1)).ToArray();
            var quantized = KernelGolden.Quantize(activation.QuantizeActivation!, activation, scaled);
            var values = new sbyte[count];
            var scales = new float[count / activation.BlockSize];
            fixed (byte* q = quantized)
            fixed (sbyte* v = values)
            fixed (float* s = scales)
            {
                activation.DecodeIntegers!(q, v, s, count);
            }

            result[t] = (quantized, values, scales);
        }

        return result;
    }
}
