module.exports = (output) => {
  return output ===
