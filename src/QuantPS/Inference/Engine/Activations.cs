using QuantPS.Kernels.Generated;

namespace QuantPS.Inference.Engine;

/// <summary>
/// The elementwise functions of the forward pass, computed as ggml's CPU backend computes them: SwiGLU, GeGLU with
/// ggml's F16 GELU table (GGML_GELU_FP16, on by default), and tanh soft-capping.
/// </summary>
internal static unsafe class Activations
{
    // ggml's constants (ggml-cpu/vec.h).
    private const float GeluCoefA = 0.044715f;
    private const float Sqrt2OverPi = 0.79788456080286535587989211986876f;

    /// <summary>
    /// ggml_table_gelu_f16 as floats: for every F16 bit pattern h, F16(gelu_f32(h)) widened, with ggml's tanh GELU
    /// evaluated in float as ggml_cpu_init does. Indexed by the F16 bits of the input.
    /// </summary>
    internal static readonly float[] GeluTable = BuildGeluTable();

    /// <summary>
    /// ggml_gelu_f32: 0.5x(1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))) in float, with 1 + a x x as one fused multiply-add:
    /// GCC contracts it so in an FMA build of ggml (checked: only this form reproduces ggml's table bit for bit).
    /// </summary>
    internal static float GeluF32(float x) => 0.5f * x * (1.0f + MathF.Tanh(Sqrt2OverPi * x * MathF.FusedMultiplyAdd(GeluCoefA * x, x, 1.0f)));

    private static float[] BuildGeluTable()
    {
        var table = new float[65536];
        for (var i = 0; i < table.Length; i++)
        {
            var x = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            table[i] = (float)(Half)GeluF32(x);
        }

        return table;
    }

    /// <summary>
    /// gate = silu(gate) * up, row by row as ggml's swiglu runs ggml_vec_swiglu_f32 per row (the generated kernel: its
    /// vector exp for whole groups of 16, expf for the rest of each row).
    /// </summary>
    public static void SwiGlu(float* gate, float* up, long rowLength, int rows)
    {
        var kernel = ActivationKernels.SwiGlu;
        for (var row = 0; row < rows; row++)
        {
            kernel(gate + (row * rowLength), up + (row * rowLength), rowLength);
        }
    }

    /// <summary>
    /// gate = gelu(gate) * up as ggml_vec_geglu_f32 with GGML_GELU_FP16: 0 at or below -10, the identity at or above 10,
    /// between them the table entry of gate rounded to F16.
    /// </summary>
    public static void GeGlu(float* gate, float* up, long count)
    {
        var table = GeluTable;
        for (long i = 0; i < count; i++)
        {
            var x = gate[i];
            gate[i] = x <= -10f ? 0f
                : x >= 10f ? x * up[i]
                : table[BitConverter.HalfToUInt16Bits((Half)x)] * up[i];
        }
    }

    /// <summary>x = cap * tanh(x * (1/cap)), as ggml_scale, ggml_tanh (tanhf), ggml_scale (gemma2's final logits).</summary>
    public static void SoftCap(float* x, long count, float cap)
    {
        var inverse = 1f / cap;
        for (long i = 0; i < count; i++)
        {
            x[i] = MathF.Tanh(x[i] * inverse) * cap;
        }
    }
}
