#include "lowbit/quant/spec.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace lowbit::quant {
namespace {

TEST(QuantSpec, ParsesEveryValidForm) {
  struct Case {
    const char* s;
    QuantKind kind;
    const char* name;
    int bits;
    int frac;
  };
  const Case cases[] = {
      {"none", QuantKind::kNone, "none", 32, 0},
      {"binary", QuantKind::kBinary, "binary", 1, 0},
      {"binary:approx", QuantKind::kApproxSign, "binary", 1, 0},
      {"binary:swish", QuantKind::kSwishSign, "binary", 1, 0},
      {"binary:swish:2.5", QuantKind::kSwishSign, "binary", 1, 0},
      {"stochastic", QuantKind::kStochastic, "stochastic", 1, 0},
      {"ternary", QuantKind::kTernary, "ternary", 2, 0},
      {"ternary:0.05", QuantKind::kTernary, "ternary", 2, 0},
      {"ternary:0", QuantKind::kTernary, "ternary", 2, 0},
      {"dorefa:1", QuantKind::kDoReFa, "dorefa", 1, 0},
      {"dorefa:8", QuantKind::kDoReFa, "dorefa", 8, 0},
      {"fixed:8,4", QuantKind::kFixed, "fixed", 8, 4},
      {"fixed:2,0", QuantKind::kFixed, "fixed", 2, 0},
      {"fixed:16,16", QuantKind::kFixed, "fixed", 16, 16},
      {"fixed:8,7:signed", QuantKind::kFixed, "fixed", 8, 7},
      {"int:2", QuantKind::kInt, "int", 2, 0},
      {"int:16", QuantKind::kInt, "int", 16, 0},
      {"int:8:signed", QuantKind::kInt, "int", 8, 0},
      {"int:8:unsigned:narrow", QuantKind::kInt, "int", 8, 0},
      {"int:4:signed:narrow:channel", QuantKind::kInt, "int", 4, 0},
      {"int:8:channel", QuantKind::kInt, "int", 8, 0},
      {"xnor", QuantKind::kXnor, "xnor", 1, 0},
      {"xnor:tensor", QuantKind::kXnor, "xnor", 1, 0},
      {"syq:binary", QuantKind::kSyq, "syq", 1, 0},
      {"syq:ternary:row", QuantKind::kSyq, "syq", 2, 0},
      {"syq:binary:pixel", QuantKind::kSyq, "syq", 1, 0},
      {"progressive", QuantKind::kProgressive, "progressive", 1, 0},
      {"progressive:100", QuantKind::kProgressive, "progressive", 1, 0},
      {"addnet:2", QuantKind::kAddNet, "addnet", 4, 0},
      {"addnet:3", QuantKind::kAddNet, "addnet", 6, 0},
      {"addnet:4", QuantKind::kAddNet, "addnet", 8, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.s);
    QuantSpec q = parse_quant_spec(c.s);
    EXPECT_EQ(q.kind, c.kind);
    EXPECT_EQ(q.name, c.name);
    EXPECT_EQ(q.bits, c.bits);
    EXPECT_EQ(q.frac_bits, c.frac);
    EXPECT_EQ(q.str(), c.s);                  // canonical forms round-trip as text
    EXPECT_EQ(parse_quant_spec(q.str()), q);  // and as specs
  }
}

TEST(QuantSpec, ParametersAndDefaults) {
  EXPECT_FLOAT_EQ(parse_quant_spec("binary:swish").beta, 5.f);
  EXPECT_FLOAT_EQ(parse_quant_spec("binary:swish:2.5").beta, 2.5f);
  EXPECT_EQ(parse_quant_spec("binary:swish:5").str(), "binary:swish");
  EXPECT_FALSE(parse_quant_spec("ternary").threshold.has_value());
  ASSERT_TRUE(parse_quant_spec("ternary:0.05").threshold.has_value());
  EXPECT_FLOAT_EQ(*parse_quant_spec("ternary:0.05").threshold, 0.05f);
  EXPECT_EQ(parse_quant_spec("ternary:0.7").str(), "ternary:0.7");
  EXPECT_EQ(parse_quant_spec("syq:binary:layer").str(), "syq:binary");  // layer is the default
  EXPECT_EQ(parse_quant_spec("int:8:channel:narrow:signed").str(), "int:8:signed:narrow:channel");
  EXPECT_EQ(parse_quant_spec("progressive:1000").str(), "progressive");
  EXPECT_FLOAT_EQ(parse_quant_spec("progressive:50").vmax, 50.f);
  EXPECT_TRUE(parse_quant_spec("binary").is_sign());
  EXPECT_TRUE(parse_quant_spec("progressive").is_sign());
  EXPECT_FALSE(parse_quant_spec("xnor").is_sign());  // scaled
  EXPECT_TRUE(parse_quant_spec("addnet:2").weights_only());
  EXPECT_TRUE(parse_quant_spec("int:8:channel").weights_only());
  EXPECT_FALSE(parse_quant_spec("int:8").weights_only());
  EXPECT_TRUE(parse_quant_spec("fixed:4,2").activations_only());
}

TEST(QuantSpec, EveryBadSpecIsAnErrorListingTheValidForms) {
  const char* bad[] = {"",          "quux",           "Binary",        "none:1",         "binary:x",
                       "binary:",   "binary:approx:1", "binary:swish:", "binary:swish:0", "binary:swish:-1",
                       "binary:swish:nan", "binary:swish:x", "stochastic:1", "ternary:-0.1", "ternary:abc",
                       "ternary:inf", "ternary:1:2", "dorefa",      "dorefa:0",       "dorefa:9",
                       "dorefa:2x", "dorefa: 2",      "dorefa:1.5",    "fixed",          "fixed:4",
                       "fixed:4,5", "fixed:1,0",      "fixed:17,0",    "fixed:4,-1",     "fixed:4,2,1",
                       "fixed:4,2:1", "fixed:,2",  "fixed:8,7:unsigned", "fixed:8,7:signed:signed",     "int",           "int:1",          "int:33",
                       "int:x", "int:8:signed:unsigned", "int:8:narrow:narrow", "int:8:chan", "int:8:",
                       "xnor:channel", "xnor:tensor:1", "syq", "syq:quad", "syq:binary:col",
                       "syq:binary:row:1", "progressive:1", "progressive:0.5", "progressive:x", "addnet",
                       "addnet:1", "addnet:5", "addnet:2:1"};
  for (const char* s : bad) {
    SCOPED_TRACE(s);
    std::string msg = lowbit::testing::error_of([&] { parse_quant_spec(s); });
    ASSERT_FALSE(msg.empty()) << "no error for '" << s << "'";
    EXPECT_NE(msg.find(valid_quant_forms()), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + s + "'"), std::string::npos) << msg;  // names the spec
  }
  // The list names every form.
  for (const char* form : {"none", "binary:approx", "binary:swish:B", "stochastic", "ternary:T", "dorefa:k",
                           "fixed:k,f", "int:k", "xnor", "syq:binary|ternary", "progressive", "addnet:2|3|4"})
    EXPECT_NE(valid_quant_forms().find(form), std::string::npos) << form;
}

}  // namespace
}  // namespace lowbit::quant
