using System.Collections.Generic;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// One family of kernel recipes (element types, legacy 32-blocks, K-quants, IQ grids...). Each family
/// lives in its own file and says which checked descriptions it can emit; the planner asks them in
/// order. A new family is one file plus one line in <see cref="KernelFamilies.All"/>.
/// </summary>
/// <remarks>
/// Emitted members, all <c>public static</c> on the type's kernel class:
/// weights: <c>DequantizeRow{Scalar,V128,V256,V512}(byte*, float*, long)</c> and, with an activation,
/// <c>Dot{Scalar,V128,V256,V512}(long, byte*, byte*)</c>; quantizers:
/// <c>QuantizeRow{Scalar,V128,V256,V512}(float*, byte*, long)</c>. Each SIMD member is one template
/// instantiated per <see cref="Width"/>; the scalar ones are the fallback when no width is accelerated.
/// </remarks>
internal abstract class KernelFamily
{
    /// <summary>
    /// On every kernel: full optimization from the first call. Tier-0 code of a vector loop is many times
    /// slower, and a row loop runs long enough to matter before tiering replaces it.
    /// </summary>
    public const string Hot = "[MethodImpl(MethodImplOptions.AggressiveOptimization)]";

    public abstract string Name { get; }

    /// <summary>True when this family emits the dequantizers (and dot products) of <paramref name="model"/>.</summary>
    public virtual bool EmitsWeights(KernelModel model) => false;

    /// <summary>Null when the dot product with <c>model.Activation</c> can be emitted, else why not.</summary>
    public virtual string? DotProblem(KernelModel model) => "this family has no dot products";

    /// <summary>
    /// True when the family emits its own Dot4 members (one weight row against four activation rows, each
    /// weight block decoded once); otherwise the class gets Dot4 members that call Dot four times.
    /// </summary>
    public virtual bool EmitsDotRows => false;

    /// <summary>
    /// True when the family emits <c>DecodeIntegers</c> for <paramref name="model"/>: its blocks as 32 integers and one
    /// float scale, for the integer panel kernel (see IntegerPanelEmitter).
    /// </summary>
    public virtual bool EmitsIntegers(KernelModel model) => false;

    /// <summary>
    /// Non-null when the family emits <c>DecodeSubScaled</c> for <paramref name="model"/> (super-blocks as sub-scaled
    /// integers, for the integer super-panels): the number of sub-block mins per block, 0 without mins.
    /// </summary>
    public virtual int? SubScaledMins(KernelModel model) => null;

    /// <summary>True when the family emits <c>DotPrepared</c> and <c>PrepareActivation</c> (a matrix-vector dot over a prepared activation row).</summary>
    public virtual bool EmitsPreparedDot(KernelModel model) => false;

    /// <summary>
    /// Non-null when the family emits <c>DecodeSubBlocks</c> for <paramref name="model"/> (super-blocks as unsigned byte
    /// values apart from their sub-scales, for the byte super-panels): the largest value.
    /// </summary>
    public virtual int? SubBlockQuantMax(KernelModel model) => null;

    /// <summary>True when this family emits the activation quantizer of <paramref name="model"/>.</summary>
    public virtual bool EmitsQuantizer(KernelModel model) => false;

    /// <summary>Dot4{suffix} as Dot{suffix} on each of the four rows (scalar members, and families without their own).</summary>
    public static void EmitDotRowsByRow(SourceWriter writer, string suffix)
    {
        writer
            .Line($"/// <summary>Four activation rows: Dot{suffix} on each.</summary>")
            .Line($"public static void Dot4{suffix}(long count, byte* weights, byte* activations, long activationStride, float* results)");
        using (writer.Braces())
        {
            writer.Line("for (int r = 0; r < 4; r++)");
            using (writer.Braces())
            {
                writer.Line($"results[r] = Dot{suffix}(count, weights, activations + r * activationStride);");
            }
        }

        writer.Line();
    }

    public virtual void EmitWeightKernels(SourceWriter writer, KernelModel model)
    {
    }

    public virtual void EmitQuantizer(SourceWriter writer, KernelModel model)
    {
    }
}

/// <summary>The registry of families, in the order the planner asks them.</summary>
internal static class KernelFamilies
{
    public static readonly IReadOnlyList<KernelFamily> All = new KernelFamily[]
    {
        new ElementKernelEmitter(),
        new LegacyKernelEmitter(),
        new KQuantKernelEmitter(),
        new TernaryKernelEmitter(),
        new SubByteKernelEmitter(),
        new SubScaledCodebookKernelEmitter(),
        new MicroscaledKernelEmitter(),
        new TritKernelEmitter(),
        new GridKernelEmitter(),
        new ActivationQuantizerEmitter(),
    };

    public static KernelFamily ByName(string name)
    {
        foreach (var family in All)
        {
            if (family.Name == name)
            {
                return family;
            }
        }

        throw new KeyNotFoundException("No kernel family named " + name);
    }
}
