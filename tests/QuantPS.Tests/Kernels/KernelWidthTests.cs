using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>Which vector width the kernels dispatch to, and that the runtime switches CI uses really narrow it.</summary>
public sealed class KernelWidthTests
{
    /// <summary>The runtime switches, each with the widest width it still allows.</summary>
    private static readonly (string Variable, VectorWidth Widest)[] Switches =
    {
        ("DOTNET_EnableHWIntrinsic", VectorWidth.Scalar),
        ("DOTNET_EnableAVX2", VectorWidth.V128),
        ("DOTNET_EnableAVX512", VectorWidth.V256),
        ("DOTNET_EnableAVX512F", VectorWidth.V256),
    };

    [Fact]
    public void A_switched_off_instruction_set_narrows_the_width()
    {
        foreach (var (variable, widest) in Switches)
        {
            if (Environment.GetEnvironmentVariable(variable) == "0")
            {
                // .NET 10 no longer reads DOTNET_EnableAVX512F (the knob is DOTNET_EnableAVX512): a run that sets
                // only the old name still runs 512-bit kernels, and this says so instead of passing silently.
                Assert.True(
                    (int)KernelWidth.Active <= (int)widest,
                    $"{variable}=0 but the kernels run at {KernelWidth.Active}; this runtime ignores {variable}" +
                    (variable == "DOTNET_EnableAVX512F" ? " (use DOTNET_EnableAVX512=0 on .NET 9+)" : ""));
            }
        }
    }

    [Fact]
    public void Dispatched_kernels_are_the_active_width_instances()
    {
        foreach (var type in KernelGolden.KernelTypes)
        {
            var info = GgmlTypeTraits.Get(type);
            Assert.Same(GgmlKernelCatalog.Dequantize(type, KernelWidth.Active), info.Dequantize);
            Assert.Same(GgmlKernelCatalog.Dot(type, KernelWidth.Active), info.Dot);
            Assert.Same(GgmlKernelCatalog.QuantizeActivation(type, KernelWidth.Active), info.QuantizeActivation);
        }
    }
}
